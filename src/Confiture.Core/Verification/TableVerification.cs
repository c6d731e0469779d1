namespace Confiture.Core.Verification;

/// <summary>Row counts (and, when asked, content digests) of one table on both sides.</summary>
/// <param name="SourceSchema">The source schema.</param>
/// <param name="SourceTable">The source table.</param>
/// <param name="TargetSchema">The target schema.</param>
/// <param name="TargetTable">The target table.</param>
/// <param name="SourceCount">Rows on the source.</param>
/// <param name="TargetCount">Rows on the target.</param>
public sealed record TableVerification(string SourceSchema, string SourceTable, string TargetSchema, string TargetTable, long SourceCount, long TargetCount)
{
    /// <summary>The source's digest of the mapped columns; null when no checksum was asked for.</summary>
    public string? SourceChecksum { get; init; }

    /// <summary>The target's digest of the mapped columns; null when no checksum was asked for.</summary>
    public string? TargetChecksum { get; init; }

    /// <summary>Differing rows found by a detailed comparison (at most the number asked for).</summary>
    public IReadOnlyList<RowDifference> Differences { get; init; } = [];

    /// <summary>Whether the digests agree; null when no checksum was asked for.</summary>
    public bool? ChecksumMatch => SourceChecksum is null ? null : SourceChecksum == TargetChecksum;

    /// <summary>Where the compared map came from: given, session, target record, or same names (no map recorded).</summary>
    public string? MapSource { get; init; }

    /// <summary>The columns whose values the checksum covers (source -> target); empty for a count-only check.</summary>
    public IReadOnlyList<Migration.ColumnPair> ComparedColumns { get; init; } = [];

    /// <summary>Every column of either table the checksum leaves out, with why.</summary>
    public IReadOnlyList<UncomparedColumn> NotCompared { get; init; } = [];

    /// <summary>What the migration wrote that this comparison does not check: each makes <see cref="Match"/> false.</summary>
    public IReadOnlyList<string> Uncovered { get; init; } = [];

    /// <summary>What was compared, in words.</summary>
    public string Coverage => SourceChecksum is null
        ? "row counts only"
        : $"row counts and a checksum of {ComparedColumns.Count} column(s), map: {MapSource}";

    /// <summary>Whether the counts agree, the digests too when computed, and the comparison covers all the migration wrote.</summary>
    public bool Match => SourceCount == TargetCount && ChecksumMatch != false && Uncovered.Count == 0;

    /// <summary>Why <see cref="Match"/> is false, in words; null when it is true.</summary>
    public string? MismatchReason => Match ? null : string.Join("; ", Reasons());

    private IEnumerable<string> Reasons()
    {
        if (SourceCount != TargetCount)
        {
            yield return $"{SourceCount} rows on the source, {TargetCount} on the target";
        }

        if (ChecksumMatch == false)
        {
            yield return "the checksums differ";
        }

        foreach (var reason in Uncovered)
        {
            yield return reason;
        }
    }

    /// <summary>Target minus source: negative means rows are missing on the target.</summary>
    public long Difference => TargetCount - SourceCount;
}
