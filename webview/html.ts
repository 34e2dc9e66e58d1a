/**
 * The investigation panel's HTML page. The extension (src/extension/investigationPanel.ts) and the
 * browser test (test/e2e/webview.test.ts) both build the page here, so the test checks the page users
 * get, Content-Security-Policy included. This module runs in Node, not in the webview: it imports
 * neither `vscode` nor the DOM.
 *
 * The page carries no data. The report arrives later by `postMessage`, so nothing from a model file is
 * ever interpolated into this HTML; the only interpolated values are URIs and the nonce, which the
 * extension makes itself, and they are escaped anyway.
 */

export interface PanelHtmlOptions {
  /** `webview.cspSource`: the origin the webview loads local resources from. */
  cspSource: string;
  /** A fresh random value per page load; the only script allowed to run carries it. */
  nonce: string;
  /** URI of dist/webview.js, as the webview sees it. */
  scriptUri: string;
  /** URI of media/panel.css, as the webview sees it. */
  styleUri: string;
  /** The panel's title, shown before the report arrives. */
  title: string;
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * The policy allows scripts only with the nonce (no inline handlers, no eval), styles and fonts only
 * from the extension's own files, images from those files and from `data:` URIs (the sample images
 * are PNG data URIs), and nothing else: no network, no frames, no forms.
 */
export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `img-src ${cspSource} data:`,
    `style-src ${cspSource}`,
    `font-src ${cspSource}`,
    `script-src 'nonce-${nonce}'`,
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

export function panelHtml(options: PanelHtmlOptions): string {
  const csp = escapeAttribute(contentSecurityPolicy(options.cspSource, options.nonce));
  const nonce = escapeAttribute(options.nonce);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${escapeAttribute(options.styleUri)}">
<title>${escapeAttribute(options.title)}</title>
</head>
<body>
<main id="app"><p class="placeholder">Loading the scan report…</p></main>
<script nonce="${nonce}" src="${escapeAttribute(options.scriptUri)}"></script>
</body>
</html>
`;
}
