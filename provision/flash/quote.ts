// Quoting for YAML, where untrusted values end up (the shell's is lib/cli/shell-quote.ts). It works for
// any string; the settings' validation is a second fence, not the only one.

// YAML folds these line breaks inside a quoted scalar, and a BOM or a C1 control is not allowed in it:
// escape them, where JSON would have left them as they are.
const YAML_UNSAFE = /[\u0080-\u009f\u2028\u2029\ufeff]/g;

/**
 * A YAML double-quoted scalar that is exactly `text`: JSON's string syntax (which YAML's double-quoted
 * style includes), with YAML's own line breaks escaped too. Non-ASCII letters stay as UTF-8.
 */
export function yamlString(text: string): string {
  if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text)) {
    throw new Error('a YAML string cannot hold a lone UTF-16 surrogate');
  }
  return JSON.stringify(text).replace(
    YAML_UNSAFE,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
