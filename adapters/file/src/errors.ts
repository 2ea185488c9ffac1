import { DestinationError } from '@scorebridge/core';

/** A file-system error as a DestinationError that names the directory and says what to do. */
export function fileError(
  what: string,
  directory: string,
  cause: unknown,
  destination: string,
): DestinationError {
  const code = (cause as NodeJS.ErrnoException).code;
  const permanent =
    code === 'EACCES' ||
    code === 'EPERM' ||
    code === 'EROFS' ||
    code === 'ENOTDIR' ||
    code === 'EEXIST';
  return new DestinationError(
    permanent ? 'config' : 'unavailable',
    `[file] ${what} in ${directory} failed: ${code ?? (cause as Error).message}`,
    {
      destination,
      cause,
      where: directory,
      remedy: permanent
        ? `Make ${directory} a directory this user can write to, or set options.directory to one.`
        : 'Check the disk (space, mounts); ScoreBridge retries.',
    },
  );
}
