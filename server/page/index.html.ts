// The live page's HTML: an empty #app that main.ts fills, the stylesheet and the module script. No
// inline script: the server's Content-Security-Policy allows scripts from 'self' only.

const escapeAttribute = (value: string): string =>
  value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function pageHtml(opts: { scriptPath: string; stylePath: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="dark">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>fleetkit</title>
<link rel="stylesheet" href="${escapeAttribute(opts.stylePath)}">
<script type="module" src="${escapeAttribute(opts.scriptPath)}"></script>
</head>
<body>
<div id="app"><p class="loading">fleetkit: loading…</p></div>
<noscript><p class="loading">This page needs JavaScript to show the fleet live.</p></noscript>
</body>
</html>
`;
}
