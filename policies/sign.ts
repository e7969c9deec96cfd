/**
 * Building authenticated registration messages: encode with placeholder authenticators, then
 * compute each authentication extension in order, since each one covers the ones before it
 * (3.5.1; e.g. the MFAE covers the whole MHAE, the FHAE covers both).
 */
import { encodeRegistrationMessage, extensionOffsets, registrationMessageLength } from '../io/wire/registration.js';
import type { AuthExtensionType, RegistrationExtension, RegistrationMessage } from '../io/wire/registration-types.js';
import { AUTHENTICATOR_LENGTH, sealAuthenticator, type AuthAlgorithm } from './auth.js';

export interface SigningKey {
  readonly spi: number;
  readonly algorithm: AuthAlgorithm;
  readonly key: Uint8Array;
}

/** An authentication extension to be filled in by `encodeSigned`. */
export function authPlaceholder(type: AuthExtensionType, spi: number): RegistrationExtension {
  return { kind: 'auth', type, spi, offset: 0, authenticator: new Uint8Array(AUTHENTICATOR_LENGTH) };
}

/**
 * Encodes `message` and seals every authentication extension with the key `keyFor` returns
 * for it (extensions it returns undefined for are written as given).
 */
export function encodeSigned(
  message: RegistrationMessage,
  keyFor: (type: AuthExtensionType, spi: number) => SigningKey | undefined,
): Uint8Array {
  const bytes = new Uint8Array(registrationMessageLength(message));
  encodeRegistrationMessage(message, bytes, 0);
  const extensions = message.extensions;
  let offsets: number[] | undefined;
  for (let i = 0; i < extensions.length; i++) {
    const extension = extensions[i]!;
    if (extension.kind !== 'auth') continue;
    const signing = keyFor(extension.type, extension.spi);
    if (signing) sealAuthenticator(signing.algorithm, signing.key, bytes, (offsets ??= extensionOffsets(message))[i]!);
  }
  return bytes;
}
