// The command-line layer's own error: settings a user gave that a command cannot run with. It lists
// every bad one at once, each named as the user typed it (--port, FLEET_PORT, agent.env:3), and is
// printed by one printer (settings.ts, printBadSettings) that exits 2. The registry's ValidationError
// is for callers of the library; a command folds it into this one where its checks are reused.

export interface SettingIssue {
  /** The setting as the user typed it once named (settings.ts, nameFields); a settings key before. */
  field: string;
  /** What was expected, in words a user can act on. */
  expected: string;
}

export class SettingsError extends Error {
  override readonly name = 'SettingsError';
  readonly issues: readonly SettingIssue[];
  constructor(issues: readonly SettingIssue[]) {
    super(`bad settings: ${issues.map((i) => `${i.field}: ${i.expected}`).join('; ')}`);
    this.issues = issues;
  }
  get fields(): string[] {
    return this.issues.map((i) => i.field);
  }
}

export const isSettingsError = (error: unknown): error is SettingsError => error instanceof SettingsError;
