// Run before the e2e suites (ctest fixture e2e_deps): their imports fail with an unhelpful
// "Cannot find package" when tests/e2e/node_modules is missing or stale.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8'));
const missing = [];
for (const [where, meta] of Object.entries(lock.packages)) {
  if (!where.startsWith('node_modules/') || where.split('node_modules/').length > 2) continue;
  const pkg = path.join(root, where, 'package.json');
  if (!existsSync(pkg)) {
    missing.push(`${where.slice('node_modules/'.length)} (not installed)`);
  } else if (JSON.parse(readFileSync(pkg, 'utf8')).version !== meta.version) {
    missing.push(`${where.slice('node_modules/'.length)} (installed version differs from package-lock.json ${meta.version})`);
  }
}
if (missing.length) {
  console.error(`tests/e2e dependencies are missing or stale: ${missing.slice(0, 10).join(', ')}` +
                `${missing.length > 10 ? ` and ${missing.length - 10} more` : ''}.\n` +
                "Run 'make e2e-deps' (npm ci in tests/e2e).");
  process.exit(1);
}
if (!process.version.match(/^v(\d+)/) || Number(process.version.match(/^v(\d+)/)[1]) < 20) {
  console.error(`node ${process.version} is too old for the e2e suites; they need node >= 20`);
  process.exit(1);
}
console.log(`tests/e2e dependencies OK (${Object.keys(lock.packages).length - 1} packages)`);
