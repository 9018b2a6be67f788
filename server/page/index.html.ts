// The live page's HTML: an empty #app that main.ts fills, the stylesheet and the module script. No
// inline script: the server's Content-Security-Policy allows scripts from 'self' only.

/** For text and attribute values inside the server's HTML templates. */
export const escapeHtml = (text: string): string =>
  text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');

/** The head every page of the server shares (dark, no referrer, no favicon request); `head` and `body` are trusted markup. */
export function htmlDocument(title: string, head: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="dark">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>${escapeHtml(title)}</title>
${head}
</head>
<body>
${body}
</body>
</html>
`;
}

export function pageHtml(opts: { scriptPath: string; stylePath: string }): string {
  return htmlDocument(
    'fleetkit',
    `<link rel="stylesheet" href="${escapeHtml(opts.stylePath)}">
<script type="module" src="${escapeHtml(opts.scriptPath)}"></script>`,
    `<div id="app"><p class="loading">fleetkit: loading…</p></div>
<noscript><p class="loading">This page needs JavaScript to show the fleet live.</p></noscript>`,
  );
}
