// What the CSV files (report.csv, inventory.csv) share: a cell a spreadsheet must not run.

/** Spreadsheet programs run cells starting with = + - @ as formulas: prefix them with '. */
export function neutralizeFormula(value: string): string {
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}
