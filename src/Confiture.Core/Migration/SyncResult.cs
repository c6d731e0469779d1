namespace Confiture.Core.Migration;

/// <summary>What bringing an already migrated table up to date changed on the target.</summary>
/// <param name="RowsInserted">Rows the target lacked, as the target's INSERT reported them.</param>
/// <param name="RowsUpdated">Rows whose values had changed on the source, updated in place, as the target's UPDATE reported them.</param>
/// <param name="RowsDeleted">Rows no longer on the source, as the target's DELETE reported them.</param>
/// <param name="RangesCompared">Key ranges (or buckets) whose digests were compared; 0 when a ChangedSince sync read only the rows written since the last sync.</param>
public sealed record SyncResult(long RowsInserted, long RowsUpdated, long RowsDeleted, int RangesCompared)
{
    /// <summary>Every row written or removed.</summary>
    public long RowsChanged => RowsInserted + RowsUpdated + RowsDeleted;
}
