// Node's own ways to copy, run as a child process so a run that inflates a
// sparse image can be cut off: node node-copy.mjs copyFile|pipeline SRC DST
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';

const [how, src, dst] = process.argv.slice(2);
if (how === 'copyFile') await fs.promises.copyFile(src, dst);
else if (how === 'pipeline') await pipeline(fs.createReadStream(src), fs.createWriteStream(dst));
else throw new Error(`unknown way to copy: ${how}`);
const handle = await fs.promises.open(dst, 'r+');
await handle.sync();
await handle.close();
