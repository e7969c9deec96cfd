/**
 * One table of interface names, valid or not under io/interface-name.ts, shared by the
 * TypeScript test and the native helper's (its C check must agree case by case).
 */
export interface InterfaceNameCase {
  readonly name: string;
  readonly valid: boolean;
  /** Why, for the test title. */
  readonly what: string;
}

export const INTERFACE_NAME_CASES: readonly InterfaceNameCase[] = [
  { name: 'eth0', valid: true, what: 'a plain name' },
  { name: 'a', valid: true, what: 'one byte' },
  { name: 'x'.repeat(15), valid: true, what: '15 bytes' },
  { name: 'br-home_1.2@x', valid: true, what: "'-', '_', '.' and '@'" },
  { name: 'mip4ha%d', valid: true, what: "the kernel's %d template" },
  { name: '...', valid: true, what: 'three dots (only . and .. are directory names)' },
  { name: 'ü'.repeat(7) + 'a', valid: true, what: '15 UTF-8 bytes in 8 characters' },
  { name: '😀😀😀abc', valid: true, what: 'astral characters, 15 bytes' },
  { name: '', valid: false, what: 'empty' },
  { name: '.', valid: false, what: '.' },
  { name: '..', valid: false, what: '..' },
  { name: 'x'.repeat(16), valid: false, what: '16 bytes' },
  { name: 'ü'.repeat(8), valid: false, what: '16 UTF-8 bytes in 8 characters' },
  { name: '😀😀😀😀', valid: false, what: '16 bytes of astral characters' },
  { name: 'eth0\0', valid: false, what: 'a trailing NUL' },
  { name: 'eth\0evil', valid: false, what: 'a NUL inside (C would stop reading at it)' },
  { name: 'a\tb', valid: false, what: 'a tab' },
  { name: 'a\nb', valid: false, what: 'a newline (a second ip -batch line)' },
  { name: 'a\x1b[31m', valid: false, what: 'an escape sequence' },
  { name: 'a\x7f', valid: false, what: 'DEL' },
  { name: 'a\x85', valid: false, what: 'a C1 control (NEL)' },
  { name: 'a b', valid: false, what: 'a space' },
  { name: 'a\u00a0b', valid: false, what: 'a no-break space' },
  { name: 'a\u1680', valid: false, what: 'the Ogham space mark' },
  { name: 'a\u2003b', valid: false, what: 'an em space' },
  { name: 'a\u2028', valid: false, what: 'a line separator' },
  { name: 'a\u202f', valid: false, what: 'a narrow no-break space' },
  { name: 'a\u205f', valid: false, what: 'a medium mathematical space' },
  { name: 'a\u3000', valid: false, what: 'an ideographic space' },
  { name: 'a\ufeff', valid: false, what: 'a byte-order mark' },
  { name: 'a\ufffd', valid: false, what: 'the replacement character' },
  { name: 'a\ud800', valid: false, what: 'a lone surrogate' },
  { name: 'a#b', valid: false, what: "'#' (a comment in ip -batch)" },
  { name: "a'b", valid: false, what: 'a single quote' },
  { name: 'a"b', valid: false, what: 'a double quote' },
  { name: 'a/b', valid: false, what: "'/' (a path in sysfs)" },
  { name: '../..', valid: false, what: 'a path up' },
  { name: 'a\\b', valid: false, what: 'a backslash' },
  { name: 'eth0:1', valid: false, what: "':' (an alias label)" },
];
