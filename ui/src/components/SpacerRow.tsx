// The stand-in for the rows of a windowed table that are not rendered (see rowWindow.ts).

export function SpacerRow({ px, columns }: { px: number; columns: number }) {
  if (px <= 0) return null;
  return (
    <tr class="spacer" aria-hidden="true" style={{ height: `${px}px` }}>
      <td colSpan={columns} />
    </tr>
  );
}
