/** confusion[true][predicted] counts → each row divided by its total; a row with no examples stays all zeros. */
export function rowNormalise(confusion: readonly (readonly number[])[]): number[][] {
  return confusion.map((row) => {
    const total = row.reduce((a, b) => a + b, 0);
    return row.map((count) => (total > 0 ? count / total : 0));
  });
}

/** Correct predictions over all predictions (the diagonal's share); 0 for an empty matrix. */
export function accuracyOf(confusion: readonly (readonly number[])[]): number {
  let correct = 0;
  let total = 0;
  confusion.forEach((row, i) => row.forEach((count, j) => { total += count; if (i === j) correct += count; }));
  return total > 0 ? correct / total : 0;
}
