// extents() and extentsSync(): where the data and the holes of a file or device are.
import { fromNative } from './errors';
import { addon, type NativeExtentsAnswer } from './native';
import { engineTarget } from './nbd';
import { checkExtentsArgs, ONE_CONNECTION } from './options';
import type { Extent, ExtentsOptions, Target } from './types';

function unwrap(answer: NativeExtentsAnswer, target: Target): Extent[] {
  if (answer.error) throw fromNative(answer.error, target);
  return answer.extents;
}

/** The data and hole extents covering [offset, offset + length), mapped off the event loop. */
export async function extents(target: Target, options?: ExtentsOptions): Promise<Extent[]> {
  const a = checkExtentsArgs(target, options);
  return unwrap(await addon.extents(engineTarget(a.target, a.format, ONE_CONNECTION, a.nbdTimeout), a.offset, a.length), a.target);
}

export function extentsSync(target: Target, options?: ExtentsOptions): Extent[] {
  const a = checkExtentsArgs(target, options);
  return unwrap(addon.extentsSync(engineTarget(a.target, a.format, ONE_CONNECTION, a.nbdTimeout), a.offset, a.length), a.target);
}
