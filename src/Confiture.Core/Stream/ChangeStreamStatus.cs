namespace Confiture.Core.Stream;

/// <summary>What one call of the change stream applied, and where the stream stands at its end.</summary>
/// <param name="Slot">The replication slot on the source.</param>
/// <param name="AppliedLsn">The end LSN of the last source transaction the target holds.</param>
/// <param name="ChangesApplied">Row changes (and table truncations) this call applied.</param>
/// <param name="Transactions">Source transactions this call applied.</param>
/// <param name="Tables">Per target table, what this call applied.</param>
/// <param name="SourceLsn">The source's current WAL position at the end.</param>
/// <param name="LagBytes">WAL the source wrote past <paramref name="AppliedLsn"/>, at the end.</param>
/// <param name="LagSeconds">How long ago the newest change the target does not hold could have committed: 0 when the stream was idle at the end.</param>
/// <param name="Elapsed">How long the call took.</param>
/// <param name="NotFound">Updates and deletes that found no row on the target (the target was changed by someone else).</param>
public sealed record ChangeStreamStatus(
    string Slot,
    string AppliedLsn,
    long ChangesApplied,
    long Transactions,
    IReadOnlyList<ChangeStreamTableCounts> Tables,
    string SourceLsn,
    long LagBytes,
    double LagSeconds,
    TimeSpan Elapsed,
    long NotFound);

/// <summary>What the change stream applied to one target table.</summary>
public sealed record ChangeStreamTableCounts(string SourceTable, string TargetSchema, string TargetTable, long Inserted, long Updated, long Deleted, long Truncated);

/// <summary>How long <c>Sync-ConfitureMigration</c> applies the stream.</summary>
public sealed record ChangeStreamOptions
{
    /// <summary>Keeps applying until cancelled (Ctrl+C), or until <see cref="For"/> or <see cref="Until"/>.</summary>
    public bool Continuous { get; init; }

    /// <summary>Stops after this long (at the next source transaction boundary).</summary>
    public TimeSpan? For { get; init; }

    /// <summary>Stops at this moment (at the next source transaction boundary).</summary>
    public DateTimeOffset? Until { get; init; }

    /// <summary>Changes per target transaction at most (a source transaction is never split across two).</summary>
    public int BatchSize { get; init; } = 10_000;

    /// <summary>Whether the call stops only when told (else at what the source had committed when it began).</summary>
    internal bool RunsOn => Continuous || For is not null || Until is not null;
}

/// <summary>Where a session's change stream stands, for a cutover gate and the WAL warning.</summary>
/// <param name="Slot">The replication slot on the source.</param>
/// <param name="Publication">The publication it decodes.</param>
/// <param name="AppliedLsn">The end LSN of the last source transaction the target holds.</param>
/// <param name="SourceLsn">The source's current WAL position.</param>
/// <param name="LagBytes">WAL between the two.</param>
/// <param name="RetainedWalBytes">WAL the slot keeps on the source's disk (from its restart LSN); null when the slot is gone.</param>
/// <param name="SlotActive">Whether a process is reading the slot now.</param>
/// <param name="SnapshotHeld">Whether this process still holds the slot's snapshot (tables can still be migrated).</param>
public sealed record ChangeStreamState(
    string Slot, string Publication, string AppliedLsn, string SourceLsn, long LagBytes, long? RetainedWalBytes, bool SlotActive, bool SnapshotHeld)
{
    /// <summary>Retained WAL above which every cmdlet of the session warns: 1 GiB.</summary>
    public const long RetainedWalWarningBytes = 1L << 30;
}
