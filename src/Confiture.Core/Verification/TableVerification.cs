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

    /// <summary>Whether the counts agree, and the digests too when computed.</summary>
    public bool Match => SourceCount == TargetCount && ChecksumMatch != false;

    /// <summary>Target minus source: negative means rows are missing on the target.</summary>
    public long Difference => TargetCount - SourceCount;
}
