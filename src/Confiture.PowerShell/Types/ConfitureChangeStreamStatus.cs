using Confiture.Core.Stream;

namespace Confiture.PowerShell.Types;

/// <summary>What one Sync-ConfitureMigration applied of the change stream, and where the stream stands at its end.</summary>
public sealed class ConfitureChangeStreamStatus
{
    internal ConfitureChangeStreamStatus(ChangeStreamStatus status, ConfitureMigration migration)
    {
        Slot = status.Slot;
        AppliedLsn = status.AppliedLsn;
        SourceLsn = status.SourceLsn;
        ChangesApplied = status.ChangesApplied;
        Transactions = status.Transactions;
        Tables = [.. status.Tables.Select(t => new ConfitureChangeStreamTable(t))];
        Inserted = Tables.Sum(t => t.Inserted);
        Updated = Tables.Sum(t => t.Updated);
        Deleted = Tables.Sum(t => t.Deleted);
        LagBytes = status.LagBytes;
        LagSeconds = status.LagSeconds;
        Elapsed = status.Elapsed;
        NotFound = status.NotFound;
        Migration = migration;
    }

    /// <summary>The replication slot on the source.</summary>
    public string Slot { get; }

    /// <summary>The end LSN of the last source transaction the target holds (stored on the target with the changes).</summary>
    public string AppliedLsn { get; }

    /// <summary>The source's current WAL position when the call ended.</summary>
    public string SourceLsn { get; }

    /// <summary>Row changes (and truncations) applied by this call.</summary>
    public long ChangesApplied { get; }

    /// <summary>Source transactions applied by this call.</summary>
    public long Transactions { get; }

    /// <summary>Rows inserted by this call, over all tables.</summary>
    public long Inserted { get; }

    /// <summary>Rows updated by this call, over all tables.</summary>
    public long Updated { get; }

    /// <summary>Rows deleted by this call, over all tables.</summary>
    public long Deleted { get; }

    /// <summary>Per target table, what this call applied.</summary>
    public ConfitureChangeStreamTable[] Tables { get; }

    /// <summary>WAL the source wrote past AppliedLsn when the call ended.</summary>
    public long LagBytes { get; }

    /// <summary>How far behind the newest change it received the stream was when the call ended; 0 when it had caught up.</summary>
    public double LagSeconds { get; }

    /// <summary>How long the call took.</summary>
    public TimeSpan Elapsed { get; }

    /// <summary>Updates and deletes that found no row on the target (the target was changed by something else).</summary>
    public long NotFound { get; }

    /// <summary>The session.</summary>
    public ConfitureMigration Migration { get; }

    /// <inheritdoc />
    public override string ToString() => $"{ChangesApplied} change(s) applied up to {AppliedLsn}, lag {LagBytes} bytes";
}

/// <summary>What one Sync-ConfitureMigration applied to one target table.</summary>
public sealed class ConfitureChangeStreamTable
{
    internal ConfitureChangeStreamTable(ChangeStreamTableCounts counts)
    {
        SourceTable = counts.SourceTable;
        TargetSchema = counts.TargetSchema;
        TargetTable = counts.TargetTable;
        Inserted = counts.Inserted;
        Updated = counts.Updated;
        Deleted = counts.Deleted;
        Truncated = counts.Truncated;
    }

    /// <summary>The source table.</summary>
    public string SourceTable { get; }

    /// <summary>The target schema.</summary>
    public string TargetSchema { get; }

    /// <summary>The target table.</summary>
    public string TargetTable { get; }

    /// <summary>Rows inserted.</summary>
    public long Inserted { get; }

    /// <summary>Rows updated.</summary>
    public long Updated { get; }

    /// <summary>Rows deleted.</summary>
    public long Deleted { get; }

    /// <summary>Times the table was truncated.</summary>
    public long Truncated { get; }

    /// <inheritdoc />
    public override string ToString() => $"{TargetSchema}.{TargetTable}: +{Inserted} ~{Updated} -{Deleted}";
}
