/**
 * A tiny flag parser shared by the CLIs: `--name value`, `--name=value`, bare booleans
 * (`--quick`), comma lists (`--presets test,peer`), `--help`. Unknown flags, missing values and
 * stray positional arguments are errors that name the flag and list the known ones.
 */

export type FlagType = 'boolean' | 'string' | 'number' | 'list';

export interface FlagSpec {
  type: FlagType;
  help: string;
  /** Placeholder shown in the usage text, e.g. "out.json". */
  value?: string;
}

type ValueOf<T extends FlagType> =
  T extends 'boolean' ? boolean : T extends 'number' ? number : T extends 'list' ? string[] : string;

/** Parsed flags: booleans are always present (false when absent); the others may be undefined. */
export type Flags<S extends Record<string, FlagSpec>> = {
  [K in keyof S]: S[K]['type'] extends 'boolean' ? boolean : ValueOf<S[K]['type']> | undefined;
};

export class ArgsError extends Error {}

export function usage(command: string, spec: Record<string, FlagSpec>): string {
  const rows = Object.entries(spec).map(([name, f]) => {
    const left = f.type === 'boolean' ? `--${name}` : `--${name} ${f.value ?? (f.type === 'list' ? 'a,b' : f.type === 'number' ? 'N' : 'VALUE')}`;
    return `  ${left.padEnd(26)} ${f.help}`;
  });
  return [`usage: ${command} [flags]`, ...rows, `  ${'--help'.padEnd(26)} print this and exit`,
    'environment:',
    `  ${'LABELFLOW_NATIVE_LOGS=1'.padEnd(26)} show the GPU driver stack's own log lines, hidden by default as harmless (Dawn's "... artificially reduced", "XDG_RUNTIME_DIR is invalid")`,
  ].join('\n');
}

/** Parses argv (without node and the script). Throws ArgsError; `help` is true for --help/-h. */
export function parseFlags<S extends Record<string, FlagSpec>>(argv: readonly string[], spec: S): { flags: Flags<S>; help: boolean } {
  const out: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(spec)) if (f.type === 'boolean') out[name] = false;
  let help = false;
  const known = () => Object.keys(spec).map((n) => `--${n}`).concat('--help').join(', ');
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (!arg.startsWith('--')) throw new ArgsError(`unexpected argument "${arg}" (flags start with --; known: ${known()})`);
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const f = Object.prototype.hasOwnProperty.call(spec, name) ? spec[name] : undefined;
    if (!f) throw new ArgsError(`unknown flag --${name} (known: ${known()})`);
    if (f.type === 'boolean') {
      if (eq >= 0) {
        const v = arg.slice(eq + 1);
        if (v !== 'true' && v !== 'false') throw new ArgsError(`--${name} is a switch; give it alone or as --${name}=true|false, not "${v}"`);
        out[name] = v === 'true';
      } else out[name] = true;
      continue;
    }
    let raw: string;
    if (eq >= 0) raw = arg.slice(eq + 1);
    else {
      if (i + 1 >= argv.length || argv[i + 1].startsWith('--')) throw new ArgsError(`--${name} needs a value (${f.value ?? f.type})`);
      raw = argv[++i];
    }
    if (f.type === 'number') {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) throw new ArgsError(`--${name} needs a number, got "${raw}"`);
      out[name] = n;
    } else if (f.type === 'list') {
      const items = raw.split(',').map((s) => s.trim()).filter(Boolean);
      if (!items.length) throw new ArgsError(`--${name} needs a comma-separated list, got "${raw}"`);
      out[name] = items;
    } else out[name] = raw;
  }
  return { flags: out as Flags<S>, help };
}

/** For a CLI's main: parses, prints usage on --help (exit 0) or the error and usage (exit 2). */
export function parseArgsOrExit<S extends Record<string, FlagSpec>>(command: string, argv: readonly string[], spec: S): Flags<S> {
  try {
    const { flags, help } = parseFlags(argv, spec);
    if (help) {
      console.log(usage(command, spec));
      process.exit(0);
    }
    return flags;
  } catch (e) {
    if (!(e instanceof ArgsError)) throw e;
    console.error(`${command}: ${e.message}\n${usage(command, spec)}`);
    process.exit(2);
  }
}
