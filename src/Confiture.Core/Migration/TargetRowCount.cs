using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Migration;

/// <summary>Counts what the target stored, from its own statistics of the current transaction.</summary>
internal static class TargetRowCount
{
    /// <summary>
    /// Rows inserted into the table (all leaf partitions of a partitioned one) by the current
    /// transaction so far. A COPY stream's tuple count says what was sent; this says what a BEFORE
    /// trigger or a rule let through.
    /// </summary>
    public static async Task<long> InsertedInTransactionAsync(NpgsqlConnection connection, uint table, CancellationToken cancellationToken) =>
        await SqlExecutor.ScalarAsync<long>(connection,
            "SELECT coalesce(sum(pg_stat_get_xact_tuples_inserted(r)), 0)::bigint FROM (SELECT relid FROM pg_partition_tree($1::oid::regclass) WHERE isleaf UNION SELECT $1::oid) t(r)",
            cancellationToken, table).ConfigureAwait(false);
}
