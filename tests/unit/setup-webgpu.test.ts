/**
 * scripts/setup-webgpu.sh names no mirror: the bookworm-backports source comes from the machine's
 * apt configuration (scripts/apt-backports-source.sh), here run on sample configurations in both
 * formats, one-line `.list` and deb822 `.sources`. Then the setup script itself, with apt-get and
 * dpkg replaced by stubs on PATH (no network, no root): it tries each source in turn, unpacks
 * lavapipe from the first that serves it, and says what to do when none does.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';

const ROOT = join(import.meta.dirname, '..', '..');
const HELPER = join(ROOT, 'scripts', 'apt-backports-source.sh');
const SETUP = join(ROOT, 'scripts', 'setup-webgpu.sh');
const work = mkdtempSync(join(tmpdir(), 'labelflow-setup-webgpu-'));
after(() => rmSync(work, { recursive: true, force: true }));

let configs = 0;
/** An apt configuration folder holding `files` (paths relative to it). */
function aptDir(files: Record<string, string>): string {
  const dir = join(work, `apt-${configs++}`);
  mkdirSync(join(dir, 'sources.list.d'), { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

function derive(dir: string, codename?: string) {
  const r = spawnSync('bash', [HELPER, dir, ...(codename ? [codename] : [])], { encoding: 'utf8' });
  return { code: r.status, lines: r.stdout.split('\n').filter(Boolean), err: r.stderr };
}

test('deb822: the Debian archive\'s URI with its Signed-By; the security archive, deb-src and disabled entries are left out', () => {
  const dir = aptDir({
    'sources.list.d/debian.sources': `Types: deb
# a snapshot would do too
URIs: http://mirror.example.internal/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example.internal/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://sources.example.internal/debian
Suites: bookworm
Components: main

Enabled: no
Types: deb
URIs: http://disabled.example.internal/debian
Suites: bookworm
Components: main
`,
  });
  const r = derive(dir);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(r.lines, ['deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example.internal/debian bookworm-backports main']);
});

test('one-line format: options kept, comments and other repositories left out, each URI once, Debian-looking ones first', () => {
  const dir = aptDir({
    'sources.list': `# the machine's mirror
deb [ arch=amd64 signed-by=/etc/apt/keyrings/local.gpg ] http://apt-cache.lan:3142/debian/ bookworm main contrib non-free-firmware
deb http://apt-cache.lan:3142/debian bookworm-updates main
deb-src http://apt-cache.lan:3142/debian bookworm main
deb http://apt-cache.lan:3142/debian-security bookworm-security main
#deb http://commented.lan/debian bookworm main
deb http://apt-cache.lan:3142/debian bookworm/updates main
`,
    'sources.list.d/php.list': 'deb [signed-by=/usr/share/keyrings/php.gpg] https://php.example.com/php/ bookworm main\n',
    'sources.list.d/docker.list': 'deb [arch=amd64] https://docker.example.com/linux/debian bookworm stable\n',
    'sources.list.d/node.list': 'deb https://node.example.com/node_20.x nodistro main\n',
    'sources.list.d/old.list.disabled': 'deb http://not-read.lan/debian bookworm main\n',
    'sources.list.d/local.sources': `Types: deb
URIs: file:/srv/debian
Suites: bookworm
Components: main
Trusted: yes
`,
  });
  const r = derive(dir);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(r.lines, [
    'deb [arch=amd64 signed-by=/etc/apt/keyrings/local.gpg] http://apt-cache.lan:3142/debian/ bookworm-backports main',
    'deb [trusted=yes] file:/srv/debian bookworm-backports main',
    'deb [signed-by=/usr/share/keyrings/php.gpg] https://php.example.com/php/ bookworm-backports main',
  ]);
});

test('deb822 details: several URIs and architectures in one entry, continuation lines, an inline key, field names in any case, another codename', () => {
  const dir = aptDir({
    'sources.list.d/mirrors.sources': `types: deb deb-src
uris: http://a.lan/debian
 http://b.lan/debian
suites: trixie
components: contrib main
architectures: amd64 arm64
signed-by:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBF...
 -----END PGP PUBLIC KEY BLOCK-----
`,
    'sources.list.d/other.sources': `Types: deb
URIs: http://c.lan/debian
Suites: bookworm
Components: main
`,
  });
  const trixie = derive(dir, 'trixie');
  assert.equal(trixie.code, 0, trixie.err);
  assert.deepEqual(trixie.lines, [
    'deb [arch=amd64,arm64] http://a.lan/debian trixie-backports main',
    'deb [arch=amd64,arm64] http://b.lan/debian trixie-backports main',
  ]);
  assert.deepEqual(derive(dir).lines, ['deb http://c.lan/debian bookworm-backports main']);
});

test('no Debian archive configured: exit 1 with the reason', () => {
  const r = derive(aptDir({ 'sources.list.d/node.sources': 'Types: deb\nURIs: https://node.example.com/node_20.x\nSuites: nodistro\nComponents: main\n' }));
  assert.equal(r.code, 1);
  assert.deepEqual(r.lines, []);
  assert.match(r.err, /no enabled Debian archive source for bookworm .* in .*node\.sources/);
  const empty = derive(aptDir({}));
  assert.equal(empty.code, 1);
  assert.match(empty.err, /no sources\.list or sources\.list\.d/);
});

test('the scripts name no host: the setup script builds its source with the helper', () => {
  for (const path of [SETUP, HELPER]) {
    const text = readFileSync(path, 'utf8');
    assert.doesNotMatch(text, /[a-z][a-z0-9+.-]*:\/\/[a-z0-9]/i, `${path} holds a URL`);
    assert.doesNotMatch(text, /\b[a-z0-9-]+(\.[a-z0-9-]+)*\.(org|com|net|io|de|edu|internal|lan)\b/i, `${path} holds a host name`);
  }
  assert.match(readFileSync(SETUP, 'utf8'), /bash scripts\/apt-backports-source\.sh \/etc\/apt bookworm/);
  // On this machine: whatever its configuration holds, the helper prints backports lines or says why not.
  const here = derive('/etc/apt');
  console.log(`this machine: ${here.code === 0 ? here.lines.join(' | ') : here.err.trim()}`);
  assert.ok(here.code === 0 ? here.lines.every((l) => / bookworm-backports main$/.test(l)) : /no /.test(here.err));
});

/** A copy of the setup script whose PATH has stubs for sudo, apt-get and dpkg; apt-get serves only sources with "good" in them. */
function stubbedSetup(sources: string) {
  const repo = join(work, `repo-${configs++}`);
  cpSync(dirname(SETUP), join(repo, 'scripts'), { recursive: true });
  const bin = join(repo, 'bin');
  mkdirSync(bin);
  const log = join(repo, 'calls.log');
  const stub = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/usr/bin/env bash\necho "${name} $*" >> "${log}"\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  stub('sudo', 'exec "$@"');
  stub('apt-get', `list=""; for a in "$@"; do case "$a" in Dir::Etc::SourceList=*) list=\${a#*=} ;; esac; done
for a in "$@"; do
  case "$a" in
    update) [ -z "$list" ] || grep -q good "$list" || exit 100; exit 0 ;;
    download) touch mesa-vulkan-drivers_25.0.7_amd64.deb; exit 0 ;;
  esac
done
exit 0`);
  stub('dpkg', 'case "$1" in -s) exit 0 ;; -x) mkdir -p "$3/usr/lib/x86_64-linux-gnu" && touch "$3/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so" ;; esac');
  const r = spawnSync('bash', [join(repo, 'scripts', 'setup-webgpu.sh')], {
    encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, WEBGPU_BACKPORTS_SOURCE: sources },
  });
  const icd = join(repo, '.webgpu-sw', 'lvp_icd.json');
  return { code: r.status, out: r.stdout, err: r.stderr, icd: existsSync(icd) ? readFileSync(icd, 'utf8') : undefined, calls: readFileSync(log, 'utf8'), repo };
}

test('setup-webgpu.sh (apt-get and dpkg stubbed): the first source that serves Mesa is used; with none, it says how to get one and that SwiftShader is used meanwhile', () => {
  const served = stubbedSetup('deb http://first.lan/debian bookworm-backports main\ndeb http://good.lan/debian bookworm-backports main\ndeb http://never-tried.lan/debian bookworm-backports main');
  assert.equal(served.code, 0, served.err);
  assert.match(served.out, /no Mesa from: deb http:\/\/first\.lan\/debian bookworm-backports main\n/);
  assert.match(served.out, /lavapipe ready \(\.webgpu-sw\/lvp_icd\.json\), from: deb http:\/\/good\.lan\/debian bookworm-backports main/);
  assert.doesNotMatch(served.calls, /never-tried/);
  assert.equal(JSON.parse(served.icd!).ICD.library_path, join(served.repo, '.webgpu-sw/root/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so'));

  const unreachable = stubbedSetup('deb http://offline.lan/debian bookworm-backports main');
  assert.equal(unreachable.code, 0, unreachable.err);
  assert.equal(unreachable.icd, undefined);
  assert.match(unreachable.out, /could not be fetched\.\n {2}Everything still works: Node uses SwiftShader .* slower/);
  assert.match(unreachable.out, /WEBGPU_BACKPORTS_SOURCE="deb <your Debian mirror> bookworm-backports main" bash scripts\/setup-webgpu\.sh/);
});
