/**
 * A fast yes/no check compiled from an Effect Schema, for configuration lists of a million
 * entries. Effect's decoder costs 10-30 µs per mobile node (it builds an Either per field and
 * keeps every issue), which is most of a minute for 1,000,000 nodes; the valid case needs no
 * issues, only "yes". So the acceptor walks the schema's AST once, at start, into plain
 * closures that say whether a value is certainly valid.
 *
 * The rule that keeps it honest: the acceptor may refuse a value Effect would accept (the
 * caller then asks Effect, which is only slower), but it never accepts one Effect would
 * refuse, and what it accepts decodes to a value deep-equal to the input. It therefore covers
 * only schemas that do not transform: strings, numbers, booleans, literals, unions of
 * literals, refinements (the schema's own filter functions run, so their rules and messages
 * live in one place), arrays, and structs of plain objects that refuse unknown fields.
 * Anything else (transformations, declarations, index signatures, per-node parse options)
 * compiles to "refuse", which falls back to Effect. One blind spot, for speed: symbol-keyed
 * properties, which no JSON or YAML document can hold, are not seen.
 */
import { Either, Option, ParseResult, Schema, SchemaAST as AST } from 'effect';

export type Acceptor = (input: unknown) => boolean;

const refuse: Acceptor = () => false;

/** Parse options the filters see, as `decodeConfig` decodes (every issue, unknown fields refused). */
const FILTER_OPTIONS: AST.ParseOptions = { errors: 'all', onExcessProperty: 'error' };

const compiled = new WeakMap<AST.AST, Acceptor>();

/** The acceptor of `ast` (memoised: a schema shared by several fields is compiled once). */
export function compileAcceptor(ast: AST.AST): Acceptor {
  let acceptor = compiled.get(ast);
  if (acceptor === undefined) {
    // A recursive schema would reach itself through Suspend, which is refused, so no cycle.
    acceptor = compile(ast);
    compiled.set(ast, acceptor);
  }
  return acceptor;
}

function compile(ast: AST.AST): Acceptor {
  // Annotations that change how Effect parses a node (its own parse options, a fallback value
  // on failure) would make the acceptor's answer differ from Effect's: refuse.
  if (Option.isSome(AST.getParseOptionsAnnotation(ast)) || Option.isSome(AST.getDecodingFallbackAnnotation(ast))) return refuse;
  switch (ast._tag) {
    case 'StringKeyword':
      return (input) => typeof input === 'string';
    case 'NumberKeyword':
      return (input) => typeof input === 'number';
    case 'BooleanKeyword':
      return (input) => typeof input === 'boolean';
    case 'UnknownKeyword':
    case 'AnyKeyword':
      return () => true;
    case 'Literal': {
      const literal = ast.literal;
      return (input) => input === literal;
    }
    case 'Union': {
      // Unions of literals only: with structs as members, Effect picks candidates by their
      // literal fields and may strip excess keys of the one that wins.
      const members = ast.types.filter(AST.isLiteral);
      if (members.length !== ast.types.length) return refuse;
      const literals: unknown[] = members.map((t) => t.literal);
      return (input) => literals.some((literal) => literal === input);
    }
    case 'Refinement': {
      const from = compileAcceptor(ast.from);
      const filter = ast.filter;
      return (input) => from(input) && Option.isNone(filter(input, FILTER_OPTIONS, ast));
    }
    case 'TupleType': {
      // Arrays (`Schema.Array`): no fixed elements, one rest type.
      if (ast.elements.length !== 0 || ast.rest.length !== 1) return refuse;
      const element = compileAcceptor(ast.rest[0]!.type);
      return (input) => {
        if (!Array.isArray(input)) return false;
        for (let i = 0; i < input.length; i++) if (!element(input[i])) return false;
        return true;
      };
    }
    case 'TypeLiteral':
      return compileStruct(ast);
    default:
      return refuse;
  }
}

function compileStruct(ast: AST.TypeLiteral): Acceptor {
  if (ast.indexSignatures.length !== 0) return refuse;
  // Symbol-named fields are not looked for (see below), so a struct that has one is refused.
  if (ast.propertySignatures.some((ps) => typeof ps.name !== 'string')) return refuse;
  const fields = new Map<PropertyKey, Acceptor>();
  for (const ps of ast.propertySignatures) fields.set(ps.name, compileAcceptor(ps.type));
  const required = ast.propertySignatures.filter((ps) => !ps.isOptional).map((ps) => ps.name);
  return (input) => {
    // Effect's struct takes any non-null non-array object and returns a plain one; only plain
    // objects (what JSON and YAML make) are taken here, so that the input equals that output.
    // Every own key must be a field when unknown fields are refused. getOwnPropertyNames sees
    // non-enumerable keys too but not symbol keys, which JSON and YAML cannot write;
    // Reflect.ownKeys, which would, costs 8 times as much per object here.
    if (typeof input !== 'object' || input === null || Object.getPrototypeOf(input) !== Object.prototype) return false;
    const record = input as Record<string, unknown>;
    const keys = Object.getOwnPropertyNames(record);
    for (let i = 0; i < keys.length; i++) {
      const accepts = fields.get(keys[i]!);
      if (accepts === undefined || !accepts(record[keys[i]!])) return false;
    }
    // An absent required field is an issue (Missing); an absent optional one is fine.
    for (let i = 0; i < required.length; i++) if (!Object.hasOwn(record, required[i]!)) return false;
    return true;
  };
}

/**
 * `Schema.Array(item)` for lists that may hold a million entries (`mobileNodes`): each entry
 * is first put to `item`'s acceptor, and only entries it refuses go through Effect's decoder.
 * Effect's issues for those entries are wrapped exactly as its own array decoder wraps them
 * (a Pointer at the index, inside a Composite), so the reported paths and messages are the
 * same as `Schema.Array(item)`'s (test/runtime/schema-acceptor.test.ts checks both).
 */
export function BulkArray<A, I>(item: Schema.Schema<A, I, never>): Schema.Schema<ReadonlyArray<A>, ReadonlyArray<I>, never> {
  const reference = Schema.Array(item);
  const accepts = compileAcceptor(item.ast);
  const decodeItem = ParseResult.decodeUnknownEither(item);
  const decodeReference = ParseResult.decodeUnknownEither(reference);
  const encodeReference = ParseResult.encodeUnknownEither(reference);
  return Schema.declare([], {
    decode: () => (input, options, ast) => {
      // Not an array: Effect's own array decoder says so in its own words.
      if (!Array.isArray(input)) return decodeReference(input, options);
      const allErrors = options.errors === 'all';
      const issues: Array<ParseResult.ParseIssue> = [];
      let output: unknown[] | undefined;
      for (let i = 0; i < input.length; i++) {
        const entry: unknown = input[i];
        if (accepts(entry)) continue;
        const decoded = decodeItem(entry, options);
        if (Either.isLeft(decoded)) {
          issues.push(new ParseResult.Pointer(i, input, decoded.left));
          if (!allErrors) break;
        } else if (decoded.right !== entry) {
          (output ??= input.slice())[i] = decoded.right;
        }
      }
      if (issues.length > 0) return Either.left(new ParseResult.Composite(ast, input, issues as [ParseResult.ParseIssue, ...ParseResult.ParseIssue[]]));
      return Either.right((output ?? input) as ReadonlyArray<A>);
    },
    encode: () => (input, options) => encodeReference(input, options),
  });
}
