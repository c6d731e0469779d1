using Confiture.Core.Migration;

namespace Confiture.Core.Verification;

/// <summary>
/// Decides which columns a comparison covers, and says of every other column why it is not
/// compared. The map given wins; else the map the table was migrated with (the session's, else the
/// target's record); else, with no map known, the columns both tables share by name.
/// </summary>
internal sealed class ColumnCoverage(IReadOnlyList<ColumnPair>? given, MigratedMap? migrated, bool fromSession)
{
    /// <summary>The pairs to compare, or null for the columns both tables share by name.</summary>
    public IReadOnlyList<ColumnPair>? Pairs => given ?? migrated?.Columns;

    /// <summary>Where the compared map came from, as a user reads it.</summary>
    public string Source => given is not null ? "given"
        : migrated is null ? "same names (no map recorded)"
        : fromSession ? "session" : "target record";

    /// <summary>Each column of either table that the comparison leaves out, and why.</summary>
    public IReadOnlyList<UncomparedColumn> NotCompared(
        IReadOnlyList<MappedColumn> compared, IReadOnlyList<TableColumn> sourceColumns, IReadOnlyList<TableColumn> targetColumns)
    {
        var result = new List<UncomparedColumn>();
        foreach (var column in targetColumns.Where(t => compared.All(c => c.Target.Name != t.Name)))
        {
            var writtenFrom = migrated?.Columns.FirstOrDefault(p => p.Target == column.Name);
            var reason = column.Generated ? "generated on the target"
                : writtenFrom is not null ? $"written by the migration from \"{writtenFrom.Source}\", but not in the map compared"
                : migrated?.Defaulted.Contains(column.Name) == true ? "took its default: the migration gave it no value"
                : sourceColumns.Any(s => s.Name == column.Name) ? "not in the map compared"
                : "no source column maps to it";
            result.Add(new UncomparedColumn("target", column.Name, reason));
        }

        foreach (var column in sourceColumns.Where(s => compared.All(c => c.Source.Name != s.Name)))
        {
            var reason = migrated?.Excluded.Contains(column.Name) == true ? "excluded: the migration did not move it"
                : targetColumns.Any(t => t.Name == column.Name) ? "not in the map compared"
                : "no target column of that name";
            result.Add(new UncomparedColumn("source", column.Name, reason));
        }

        return result;
    }

    /// <summary>
    /// What the migration wrote that this comparison does not check the way it was written: each is
    /// a reason the result cannot say Match.
    /// </summary>
    public IReadOnlyList<string> Uncovered(IReadOnlyList<MappedColumn> compared)
    {
        if (migrated is null)
        {
            return [];
        }

        var result = new List<string>();
        foreach (var written in migrated.Columns)
        {
            var pair = compared.FirstOrDefault(c => c.Target.Name == written.Target);
            if (pair is null)
            {
                result.Add($"target column \"{written.Target}\" was written from \"{written.Source}\" but is not compared");
            }
            else if (pair.Source.Name != written.Source)
            {
                result.Add($"target column \"{written.Target}\" was written from \"{written.Source}\" but is compared with \"{pair.Source.Name}\"");
            }
        }

        return result;
    }
}

/// <summary>A column of either table that a comparison does not cover.</summary>
/// <param name="Side">source or target.</param>
/// <param name="Column">The column.</param>
/// <param name="Reason">Why it is not compared.</param>
public sealed record UncomparedColumn(string Side, string Column, string Reason)
{
    /// <inheritdoc />
    public override string ToString() => $"{Column} ({Side}): {Reason}";
}
