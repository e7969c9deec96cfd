/**
 * The one rule for network interface names, wherever a name enters mip4: configuration files
 * (HA, FA, MN, lab), command-line flags, and the native helper, whose C check
 * (`valid_interface_name` in native/args.c) applies the same rule byte for byte
 * (test/linux/interface-name-native.test.ts holds the two equal on one table).
 *
 * Linux itself refuses '/', ':' and whitespace and allows 15 bytes (IFNAMSIZ - 1); mip4 is
 * stricter, because names also reach iproute2 arguments, sysfs paths, `ip -batch` lines (where
 * '#' starts a comment), JSON logs and terminals: no control characters (C0, DEL, C1), no
 * quotes, backslash or '#'. Pure: no imports.
 */

/** Longest interface name in bytes: IFNAMSIZ (16) less the terminating NUL. */
export const MAX_INTERFACE_NAME_BYTES = 15;

/** Characters mip4 refuses besides controls and whitespace (the kernel refuses '/' and ':'). */
const FORBIDDEN_PUNCTUATION = `#'"/\\:`;

/** Whitespace as JavaScript's \s knows it, above the C0 range (which counts as control). */
function isUnicodeSpace(code: number): boolean {
  return (
    code === 0x20 ||
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

function utf8Length(code: number): number {
  return code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
}

/**
 * Why `name` cannot be an interface name, as a sentence naming the fault, or undefined when it
 * can. The name is quoted with JSON escapes, so a control character shows as `\u0000`.
 */
export function interfaceNameProblem(name: string): string | undefined {
  const shown = JSON.stringify(name);
  if (name.length === 0) return 'an interface name cannot be empty';
  if (name === '.' || name === '..') return `${shown} cannot be an interface name (it is a directory name)`;
  let bytes = 0;
  for (let i = 0; i < name.length; i++) {
    const code = name.codePointAt(i)!;
    if (code > 0xffff) i++;
    else if (code >= 0xd800 && code <= 0xdfff) return `interface name ${shown} holds a lone UTF-16 surrogate, which is not text`;
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return `interface name ${shown} holds a control character (code ${code})`;
    if (isUnicodeSpace(code)) return `interface name ${shown} holds a space or other whitespace`;
    if (FORBIDDEN_PUNCTUATION.includes(String.fromCharCode(code))) {
      return `interface name ${shown} holds ${JSON.stringify(String.fromCharCode(code))}; none of # ' " / \\ : may appear in it`;
    }
    // U+FFFD is what a lone surrogate becomes in UTF-8: refused so C and TS agree on it.
    if (code === 0xfffd) return `interface name ${shown} holds U+FFFD, the replacement character`;
    bytes += utf8Length(code);
  }
  if (bytes > MAX_INTERFACE_NAME_BYTES) return `interface name ${shown} is ${bytes} bytes long; Linux allows at most ${MAX_INTERFACE_NAME_BYTES}`;
  return undefined;
}

export function isValidInterfaceName(name: string): boolean {
  return interfaceNameProblem(name) === undefined;
}
