// Quoting for commands we print for the user to run again (the resume line).
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./=:,@%+-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}

/**
 * How the user started blockcopy, for the commands we print: `npx blockcopy`
 * when npx ran it, so that a user with no `blockcopy` on PATH can run the
 * printed line as it is. npx sets npm_command=exec and npm_lifecycle_script to
 * the command it runs; both pass to every process below it, so the script
 * must be ours (not, say, `npx vitest` running a test that runs us).
 */
export function invokedAs(env: NodeJS.ProcessEnv = process.env): string[] {
  const byNpx = env.npm_command === 'exec' && /^['"]?blockcopy['"]?(\s|$)/.test(env.npm_lifecycle_script ?? '');
  return byNpx ? ['npx', 'blockcopy'] : ['blockcopy'];
}
