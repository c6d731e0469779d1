namespace Confiture.Core.Record;

/// <summary>One run of several tables as the target's ledger (<c>confiture.run</c>) keeps it.</summary>
/// <param name="RunId">The run's id.</param>
/// <param name="ServerName">The session's foreign server.</param>
/// <param name="State">running, failed, completed or cancelled; a run recorded as running whose process is gone reads as failed.</param>
/// <param name="Tables">The run's target tables, schema-qualified and quoted.</param>
/// <param name="SnapshotAt">When the source snapshot of the run's first start was taken (source clock).</param>
/// <param name="StartedAt">When the run started.</param>
/// <param name="StartedBy">The target role that started it.</param>
/// <param name="ResumedAt">When it was last resumed, if ever.</param>
/// <param name="FinishedAt">When it last ended, if it did.</param>
/// <param name="Committed">The tables it committed, in commit order.</param>
public sealed record RunRecord(
    Guid RunId,
    string ServerName,
    string State,
    IReadOnlyList<string> Tables,
    DateTimeOffset? SnapshotAt,
    DateTimeOffset StartedAt,
    string StartedBy,
    DateTimeOffset? ResumedAt,
    DateTimeOffset? FinishedAt,
    IReadOnlyList<RunTableRecord> Committed)
{
    /// <summary>Whether -Resume may continue it.</summary>
    public bool Unfinished => State != "completed";
}

/// <summary>One table a run committed (<c>confiture.run_table</c>), written in the transaction of its rows.</summary>
/// <param name="TargetSchema">The target schema.</param>
/// <param name="TargetTable">The target table.</param>
/// <param name="SourceSchema">The source schema.</param>
/// <param name="SourceTable">The source table.</param>
/// <param name="MapDigest">SHA-256 of the map the rows moved with (columns, defaulted, excluded).</param>
/// <param name="Strategy">Fdw or Copy.</param>
/// <param name="RowsWritten">Rows the target stored.</param>
/// <param name="CommittedAt">When its transaction wrote the row (target clock).</param>
public sealed record RunTableRecord(
    string TargetSchema,
    string TargetTable,
    string SourceSchema,
    string SourceTable,
    string MapDigest,
    string Strategy,
    long RowsWritten,
    DateTimeOffset CommittedAt);
