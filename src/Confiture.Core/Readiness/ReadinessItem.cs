namespace Confiture.Core.Readiness;

/// <summary>What one item of the cutover gate checks.</summary>
public enum ReadinessCheck
{
    /// <summary>The table was migrated to the target (and the target table still exists).</summary>
    Migrated,

    /// <summary>The table's last checksum verification matched, and neither side changed since.</summary>
    Checksum,

    /// <summary>A sequence its columns draw from is ahead of the target's data and at or past the source's own sequence.</summary>
    Sequence,

    /// <summary>No invalid index on the table (or its partitions).</summary>
    Index,

    /// <summary>No NOT VALID constraint on the table (or its partitions).</summary>
    Constraint,

    /// <summary>The table (and each partition) has planner statistics.</summary>
    Statistics,

    /// <summary>No index or constraint an interrupted -DeferIndexes load dropped still awaits its restore.</summary>
    Journal,

    /// <summary>The change stream applied the source's WAL up to -MaxStreamLagBytes behind its current position.</summary>
    StreamLag,

    /// <summary>The change stream's slot still exists on the source and keeps the WAL it needs; how much it retains.</summary>
    RetainedWal,
}

/// <summary>One verdict of the cutover gate.</summary>
/// <param name="Check">What was checked.</param>
/// <param name="TargetSchema">The target table's schema; null for an item of the whole session.</param>
/// <param name="TargetTable">The target table; null for an item of the whole session.</param>
/// <param name="SourceTable">The source table it was migrated from, when known.</param>
/// <param name="Passed">Whether the item allows the cutover.</param>
/// <param name="Detail">What was found, in words.</param>
/// <param name="WhatToDo">What to do about a failed item; null for a passed one.</param>
public sealed record ReadinessItem(ReadinessCheck Check, string? TargetSchema, string? TargetTable, string? SourceTable, bool Passed, string Detail, string? WhatToDo)
{
    /// <inheritdoc />
    public override string ToString() =>
        $"{Check}{(TargetTable is null ? string.Empty : $" {TargetSchema}.{TargetTable}")}: {(Passed ? "passed" : "FAILED")}: {Detail}";
}

/// <summary>The cutover gate's answer: every item, and whether all of them passed.</summary>
/// <param name="Items">Every item checked, table by table, then the session's own.</param>
/// <param name="CheckedAt">When the gate ran (this machine's clock).</param>
public sealed record CutoverReadiness(IReadOnlyList<ReadinessItem> Items, DateTimeOffset CheckedAt)
{
    /// <summary>Whether the cutover may go ahead: at least one item, and every item passed.</summary>
    public bool Ready => Items.Count > 0 && Items.All(i => i.Passed);

    /// <summary>The change stream's lag behind the source's current WAL position, in bytes; null without a stream.</summary>
    public long? StreamLagBytes { get; init; }

    /// <summary>The WAL the stream's slot keeps on the source, in bytes; null without a stream.</summary>
    public long? RetainedWalBytes { get; init; }
}

/// <summary>What the cutover gate judges.</summary>
public sealed record CutoverRequest
{
    /// <summary>The default of <see cref="MaxStreamLagBytes"/>: 1 MiB, a few seconds of a busy source's WAL.</summary>
    public const long DefaultMaxStreamLagBytes = 1024 * 1024;

    /// <summary>
    /// The source tables that must be ready (the session's tables, or those named); each must have
    /// been migrated by this session. Empty judges every table the session's record lists.
    /// </summary>
    public IReadOnlyList<string> Tables { get; init; } = [];

    /// <summary>Whether <see cref="Tables"/> names the only tables to judge (the user named them), rather than the session's.</summary>
    public bool OnlyNamed { get; init; }

    /// <summary>The most WAL, in bytes, the change stream may still have to apply.</summary>
    public long MaxStreamLagBytes { get; init; } = DefaultMaxStreamLagBytes;
}
