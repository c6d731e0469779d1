using Confiture.Core.Migration;

namespace Confiture.Core.Verification;

/// <summary>What to compare between a source table and its target.</summary>
public sealed record VerificationRequest
{
    /// <summary>The source table.</summary>
    public required string SourceTable { get; init; }

    /// <summary>The source schema; null for the session's.</summary>
    public string? SourceSchema { get; init; }

    /// <summary>The target table; null for the source table's name.</summary>
    public string? TargetTable { get; init; }

    /// <summary>The target schema.</summary>
    public string TargetSchema { get; init; } = "public";

    /// <summary>Source column to target column, as migrated; null compares every column both tables share by name.</summary>
    public IReadOnlyList<ColumnPair>? ColumnMapping { get; init; }

    /// <summary>The map entry of the table, used when no <see cref="ColumnMapping"/> is given.</summary>
    public TableMap? Map { get; init; }

    /// <summary>Also compare an order-independent digest of every row's mapped values, computed on each server.</summary>
    public bool Checksum { get; init; }

    /// <summary>When the digests differ, narrow down by key ranges and report the differing keys.</summary>
    public bool Detailed { get; init; }

    /// <summary>The most differing keys to report.</summary>
    public int MaxDifferences { get; init; } = 100;

    /// <summary>The target table's name once defaults apply.</summary>
    public string EffectiveTargetTable => string.IsNullOrEmpty(TargetTable) ? SourceTable : TargetTable;
}
