/** sha256sum's format: `<hex>  <path relative to the folder>` per line, so `sha256sum -c SHA256SUMS` checks it. */
export function sha256sums(entries: { path: string; sha256: string }[]): string {
  return entries.map((e) => `${e.sha256}  ${e.path}\n`).join('');
}
