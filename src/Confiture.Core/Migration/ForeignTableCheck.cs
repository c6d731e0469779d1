namespace Confiture.Core.Migration;

/// <summary>
/// The Fdw strategy reads the foreign table imported at setup, Copy reads the source table itself:
/// both must see the same columns with the same values, or one strategy would move other data than
/// the other (a column added on the source since setup would arrive as NULL).
/// </summary>
internal static class ForeignTableCheck
{
    public static void RequireCurrent(string foreignSchema, string table, IReadOnlyList<MappedColumn> columns, IReadOnlyList<TableColumn> foreignColumns)
    {
        var foreign = foreignColumns.ToDictionary(c => c.Name, StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (var column in columns.Select(c => c.Source))
        {
            if (!foreign.TryGetValue(column.Name, out var imported))
            {
                problems.Add($"\"{column.Name}\" is missing");
            }
            else if (imported.Shape.Wire != column.Shape.Wire)
            {
                problems.Add($"\"{column.Name}\" is {imported.TypeName} there but holds {column.TypeName} values on the source");
            }
        }

        if (problems.Count > 0)
        {
            throw new ConfitureException(ConfitureErrorKind.ForeignTableOutOfDate,
                $"The foreign table \"{foreignSchema}\".\"{table}\" is out of date with the source table: {string.Join("; ", problems)}.",
                table, "Run Enable-ConfitureFdw again to re-import it, or use -Strategy Copy (which reads the source table itself).");
        }
    }
}
