using Confiture.Core.Connections;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Stream;

/// <summary>
/// What the source must allow before a change stream is set up, each checked before anything is
/// created and refused with what to change: logical WAL, a role that may replicate, the right to
/// publish the tables, a free slot and WAL sender, and a replica identity on every table.
/// </summary>
internal static class ChangeStreamPreconditions
{
    /// <summary>Logical decoding messages (the stream's stop marker) came with PostgreSQL 14.</summary>
    private const int MinimumVersion = 140000;

    /// <param name="connection">A connection to the source.</param>
    /// <param name="source">The source, for messages.</param>
    /// <param name="schema">The source schema of the tables.</param>
    /// <param name="tables">The tables the stream will carry.</param>
    /// <param name="reuse">Whether the session's slot and publication already exist (no new slot, sender or publication needed).</param>
    /// <param name="cancellationToken">Stops the work.</param>
    public static async Task CheckAsync(
        NpgsqlConnection connection, DatabaseEndpoint source, string schema, IReadOnlyList<string> tables, bool reuse, CancellationToken cancellationToken)
    {
        var settings = await SqlExecutor.ListAsync(connection,
            """
            SELECT current_setting('server_version_num')::int, current_setting('wal_level'),
                   r.rolsuper, r.rolreplication,
                   EXISTS (SELECT 1 FROM pg_roles m WHERE m.rolname = 'rds_replication' AND pg_has_role(current_user, m.oid, 'MEMBER')),
                   has_database_privilege(current_database(), 'CREATE'),
                   current_setting('max_replication_slots')::int - (SELECT count(*) FROM pg_replication_slots),
                   current_setting('max_wal_senders')::int - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender')
            FROM pg_roles r WHERE r.rolname = current_user
            """,
            r => (Version: r.GetInt32(0), WalLevel: r.GetString(1), Super: r.GetBoolean(2), Replication: r.GetBoolean(3), Rds: r.GetBoolean(4),
                CreateOnDatabase: r.GetBoolean(5), FreeSlots: r.GetInt64(6), FreeSenders: r.GetInt64(7)),
            cancellationToken).ConfigureAwait(false);
        var s = settings[0];
        if (s.Version < MinimumVersion)
        {
            throw new ConfitureException(ConfitureErrorKind.ChangeStreamFailed,
                $"The source {source} runs PostgreSQL {s.Version / 10000}; a change stream needs PostgreSQL 14 or later.",
                source.ToString(), "Leave -ChangeStream out and catch up with Invoke-ConfitureTableMigration -Sync instead.");
        }

        if (s.WalLevel != "logical")
        {
            throw new ConfitureException(ConfitureErrorKind.WalLevelNotLogical,
                $"The source {source} has wal_level = {s.WalLevel}; a change stream needs wal_level = logical.",
                source.ToString(),
                "Set wal_level = logical on the source and restart it (Azure Database for PostgreSQL: server parameter wal_level or azure.replication_support = logical; Amazon RDS: rds.logical_replication = 1 in the parameter group), or leave -ChangeStream out and use -Sync.");
        }

        if (!s.Super && !s.Replication && !s.Rds)
        {
            throw new ConfitureException(ConfitureErrorKind.ReplicationNotAllowed,
                $"Role \"{connection.UserName}\" on the source may not use replication (it has no REPLICATION attribute).",
                connection.UserName,
                $"Run on the source as an administrator: ALTER ROLE {SqlText.Identifier(connection.UserName ?? "?")} REPLICATION; (Azure Database for PostgreSQL: the same, once azure.replication_support is logical; Amazon RDS: GRANT rds_replication TO the role).");
        }

        var notOwned = await SqlExecutor.ListAsync(connection,
            """
            SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $1 AND c.relname = ANY ($2) AND NOT pg_has_role(c.relowner, 'USAGE')
            ORDER BY 1
            """,
            r => r.GetString(0), cancellationToken, schema, tables.ToArray()).ConfigureAwait(false);
        if (!reuse && !s.Super && (!s.CreateOnDatabase || notOwned.Count > 0))
        {
            var why = !s.CreateOnDatabase
                ? $"it has no CREATE privilege on database \"{source.Database}\""
                : $"it does not own {Names(notOwned)}";
            throw new ConfitureException(ConfitureErrorKind.PublicationNotAllowed,
                $"Role \"{connection.UserName}\" may not create the publication of the session's tables on the source: {why}.",
                notOwned.Count > 0 ? notOwned[0] : source.Database,
                "Run as the owner of the tables (or a member of the owning role) with CREATE on the source database: GRANT CREATE ON DATABASE to the role, or ALTER TABLE ... OWNER TO it.");
        }

        if (!reuse && (s.FreeSlots < 1 || s.FreeSenders < 1))
        {
            throw new ConfitureException(ConfitureErrorKind.ReplicationSlotsExhausted,
                s.FreeSlots < 1
                    ? $"The source {source} has no free replication slot (max_replication_slots is reached)."
                    : $"The source {source} has no free WAL sender (max_wal_senders is reached).",
                source.ToString(),
                "Drop a replication slot no longer used (SELECT pg_drop_replication_slot(name)), or raise max_replication_slots and max_wal_senders on the source and restart it.");
        }

        // Updates and deletes are found on the target by the replica identity: without one, PostgreSQL
        // refuses them on the source once published, or streams them without a key.
        var noIdentity = await SqlExecutor.ListAsync(connection,
            """
            SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $1 AND c.relname = ANY ($2) AND c.relkind IN ('r', 'p')
              AND (c.relreplident = 'n'
                   OR (c.relreplident = 'd' AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary))
                   OR (c.relreplident = 'i' AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident)))
            ORDER BY 1
            """,
            r => r.GetString(0), cancellationToken, schema, tables.ToArray()).ConfigureAwait(false);
        if (noIdentity.Count > 0)
        {
            throw new ConfitureException(ConfitureErrorKind.ReplicaIdentityMissing,
                $"{Names(noIdentity)} in schema \"{schema}\" of the source {(noIdentity.Count == 1 ? "has" : "have")} no replica identity (no primary key, and not REPLICA IDENTITY FULL): {(noIdentity.Count == 1 ? "its" : "their")} updates and deletes cannot be streamed.",
                noIdentity[0],
                $"Add a primary key, or run on the source: ALTER TABLE {SqlText.Qualified(schema, noIdentity[0])} REPLICA IDENTITY FULL; or leave the table out with -Table.");
        }
    }

    private static string Names(List<string> tables) =>
        (tables.Count == 1 ? "table " : "tables ") + string.Join(", ", tables.Take(10).Select(t => $"\"{t}\"")) + (tables.Count > 10 ? $" and {tables.Count - 10} more" : string.Empty);
}
