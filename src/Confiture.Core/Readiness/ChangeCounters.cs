using Confiture.Core.Connections;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Readiness;

/// <summary>
/// How a table stands on one server, to tell later whether it changed: the server's cumulative
/// row counters (inserted + updated + deleted, summed over its leaf partitions) and the storage
/// files of those leaves (TRUNCATE, which the counters do not count, gives a table new files).
/// </summary>
/// <param name="Changes">n_tup_ins + n_tup_upd + n_tup_del of pg_stat_all_tables.</param>
/// <param name="Storage">Each leaf's oid:relfilenode, in oid order.</param>
internal sealed record ChangeMark(long Changes, string Storage);

/// <summary>
/// Reads <see cref="ChangeMark"/>s. The counters cost nothing to read and see every kind of row
/// change, but a server publishes another session's counts only when that session goes idle or
/// ends: within about a second while it keeps writing, and up to ten seconds after its last
/// write when it stays idle (PostgreSQL 15's pgstat flush intervals). Confiture's own writes ask
/// for an immediate flush (pg_stat_force_next_flush); a session that ended, as a write freeze
/// ends them, has always been counted.
/// See https://www.postgresql.org/docs/current/monitoring-stats.html#MONITORING-PG-STAT-ALL-TABLES-VIEW.
/// </summary>
internal static class ChangeCounters
{
    /// <summary>The table's mark; null when the table does not exist.</summary>
    public static async Task<ChangeMark?> ReadAsync(NpgsqlConnection connection, string schema, string table, CancellationToken cancellationToken)
    {
        var leaves = PartitionTree.Leaves("to_regclass($1)::oid");
        var rows = await SqlExecutor.ListAsync(connection,
            $"""
            SELECT to_regclass($1) IS NOT NULL,
                   (SELECT coalesce(sum(coalesce(s.n_tup_ins, 0) + coalesce(s.n_tup_upd, 0) + coalesce(s.n_tup_del, 0)), 0)::bigint
                    FROM {leaves} l LEFT JOIN pg_stat_all_tables s ON s.relid = l.relid),
                   (SELECT coalesce(string_agg(c.oid::text || ':' || c.relfilenode::text, ',' ORDER BY c.oid), '')
                    FROM {leaves} l JOIN pg_class c ON c.oid = l.relid)
            """,
            r => r.GetBoolean(0) ? new ChangeMark(r.GetInt64(1), r.GetString(2)) : null,
            cancellationToken, SqlText.Qualified(schema, table)).ConfigureAwait(false);
        return rows[0];
    }

    /// <summary>The same, on a connection of its own.</summary>
    public static async Task<ChangeMark?> ReadAsync(DatabaseEndpoint endpoint, string schema, string table, CancellationToken cancellationToken)
    {
        await using var connection = await endpoint.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await ReadAsync(connection, schema, table, cancellationToken).ConfigureAwait(false);
    }
}
