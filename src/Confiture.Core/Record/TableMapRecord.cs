using System.Text.Json;
using Confiture.Core.Migration;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Record;

/// <summary>Reads and writes <c>confiture.table_map</c>: the map each target table was last migrated with.</summary>
internal static class TableMapRecord
{
    /// <summary>
    /// Records the map in the load's own transaction, so the record is exactly as old as the data.
    /// A role that may not create the record gets a warning instead: the load itself is not refused.
    /// </summary>
    public static async Task WriteAsync(NpgsqlConnection connection, MigratedMap map, long rows, IOperationObserver observer, CancellationToken cancellationToken)
    {
        var access = await TargetRecord.AccessAsync(connection, "table_map", "INSERT, UPDATE", cancellationToken).ConfigureAwait(false);
        var writable = access ?? await TargetRecord.MayCreateAsync(connection, cancellationToken).ConfigureAwait(false);
        if (!writable)
        {
            observer.Warning($"The map of {map.TargetSchema}.{map.TargetTable} was not recorded on the target: {connection.UserName} may not write schema {TargetRecord.Schema}. " +
                "A later process verifies this table only with -ColumnMapping or -Map.");
            return;
        }

        await TargetRecord.EnsureAsync(connection, observer, cancellationToken).ConfigureAwait(false);
        await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain(
            $"""
            INSERT INTO {TargetRecord.Schema}.table_map AS m
                (target_schema, target_table, source_schema, source_table, columns, defaulted, excluded, strategy, rows_written, server_name)
            VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::jsonb, $8, $9, $10)
            ON CONFLICT (target_schema, target_table) DO UPDATE SET
                source_schema = EXCLUDED.source_schema, source_table = EXCLUDED.source_table, columns = EXCLUDED.columns,
                defaulted = EXCLUDED.defaulted, excluded = EXCLUDED.excluded, strategy = EXCLUDED.strategy,
                rows_written = EXCLUDED.rows_written, server_name = EXCLUDED.server_name, migrated_at = now(), migrated_by = current_user
            """), observer, cancellationToken,
            map.TargetSchema, map.TargetTable, map.SourceSchema, map.SourceTable,
            JsonSerializer.Serialize(map.Columns.Select(c => new[] { c.Source, c.Target })), JsonSerializer.Serialize(map.Defaulted),
            JsonSerializer.Serialize(map.Excluded), map.Strategy.ToString(), rows, map.ServerName).ConfigureAwait(false);
    }

    /// <summary>
    /// Every map one session's server recorded, with when each table was last migrated; null when this
    /// role may not read the record, empty when there is none.
    /// </summary>
    public static async Task<IReadOnlyList<(MigratedMap Map, DateTimeOffset MigratedAt)>?> ReadForServerAsync(NpgsqlConnection connection, string serverName, CancellationToken cancellationToken)
    {
        var access = await TargetRecord.AccessAsync(connection, "table_map", "SELECT", cancellationToken).ConfigureAwait(false);
        if (access != true)
        {
            return access is null ? [] : null;
        }

        return await SqlExecutor.ListAsync(connection,
            $"""
            SELECT target_schema, target_table, source_schema, source_table, columns::text, defaulted::text, excluded::text, strategy, migrated_at
            FROM {TargetRecord.Schema}.table_map WHERE server_name = $1 ORDER BY target_schema, target_table
            """,
            r => (new MigratedMap(r.GetString(2), r.GetString(3), r.GetString(0), r.GetString(1),
                (JsonSerializer.Deserialize<string[][]>(r.GetString(4)) ?? []).Select(p => new ColumnPair(p[0], p[1])).ToList(),
                JsonSerializer.Deserialize<string[]>(r.GetString(5)) ?? [],
                JsonSerializer.Deserialize<string[]>(r.GetString(6)) ?? [],
                Enum.Parse<MigrationStrategy>(r.GetString(7)), serverName), r.GetFieldValue<DateTimeOffset>(8)),
            cancellationToken, serverName).ConfigureAwait(false);
    }

    /// <summary>The recorded map of a target table, or null when there is none (or no record at all).</summary>
    public static async Task<MigratedMap?> ReadAsync(NpgsqlConnection connection, string targetSchema, string targetTable, CancellationToken cancellationToken)
    {
        var readable = await TargetRecord.AccessAsync(connection, "table_map", "SELECT", cancellationToken).ConfigureAwait(false) == true;
        if (!readable)
        {
            return null;
        }

        var rows = await SqlExecutor.ListAsync(connection,
            $"""
            SELECT source_schema, source_table, columns::text, defaulted::text, excluded::text, strategy, server_name
            FROM {TargetRecord.Schema}.table_map WHERE target_schema = $1 AND target_table = $2
            """,
            r => new MigratedMap(r.GetString(0), r.GetString(1), targetSchema, targetTable,
                (JsonSerializer.Deserialize<string[][]>(r.GetString(2)) ?? []).Select(p => new ColumnPair(p[0], p[1])).ToList(),
                JsonSerializer.Deserialize<string[]>(r.GetString(3)) ?? [],
                JsonSerializer.Deserialize<string[]>(r.GetString(4)) ?? [],
                Enum.Parse<MigrationStrategy>(r.GetString(5)), r.GetString(6)),
            cancellationToken, targetSchema, targetTable).ConfigureAwait(false);
        return rows.Count == 0 ? null : rows[0];
    }
}
