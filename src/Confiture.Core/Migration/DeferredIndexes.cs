using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Migration;

/// <summary>
/// The target table's indexes and key constraints, captured as the server prints them, so a load
/// can run without index maintenance and then rebuild them exactly. Foreign keys that point at the
/// table (its own included) go first and come back last, since they hang on its unique indexes.
/// Dropped and rebuilt inside the load's transaction, a failure restores them with the rollback.
/// </summary>
internal sealed record DeferredIndexes(IReadOnlyList<SqlStatement> Drops, IReadOnlyList<SqlStatement> Rebuilds)
{
    public bool IsEmpty => Drops.Count == 0;

    public static async Task<DeferredIndexes> CaptureAsync(NpgsqlConnection connection, uint table, CancellationToken cancellationToken)
    {
        var referencing = await SqlExecutor.ListAsync(connection,
            """
            SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
            FROM pg_constraint WHERE confrelid = $1 AND contype = 'f' ORDER BY conrelid::regclass::text, conname
            """,
            r => (Owner: r.GetString(0), Name: r.GetString(1), Definition: r.GetString(2)), cancellationToken, table).ConfigureAwait(false);
        var keys = await SqlExecutor.ListAsync(connection,
            """
            SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
            FROM pg_constraint WHERE conrelid = $1 AND contype IN ('p', 'u', 'x') ORDER BY contype, conname
            """,
            r => (Owner: r.GetString(0), Name: r.GetString(1), Definition: r.GetString(2)), cancellationToken, table).ConfigureAwait(false);
        var indexes = await SqlExecutor.ListAsync(connection,
            """
            SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
            FROM pg_index i
            WHERE i.indrelid = $1
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = $1 AND c.contype IN ('p', 'u', 'x'))
            ORDER BY 1
            """,
            r => (Name: r.GetString(0), Definition: r.GetString(1)), cancellationToken, table).ConfigureAwait(false);

        var drops = new List<SqlStatement>();
        var rebuilds = new List<SqlStatement>();
        drops.AddRange(referencing.Select(c => SqlStatement.Plain($"ALTER TABLE {c.Owner} DROP CONSTRAINT {SqlText.Identifier(c.Name)}")));
        drops.AddRange(keys.Select(c => SqlStatement.Plain($"ALTER TABLE {c.Owner} DROP CONSTRAINT {SqlText.Identifier(c.Name)}")));
        drops.AddRange(indexes.Select(i => SqlStatement.Plain($"DROP INDEX {i.Name}")));
        rebuilds.AddRange(indexes.Select(i => SqlStatement.Plain(i.Definition)));
        rebuilds.AddRange(keys.Select(c => SqlStatement.Plain($"ALTER TABLE {c.Owner} ADD CONSTRAINT {SqlText.Identifier(c.Name)} {c.Definition}")));
        rebuilds.AddRange(referencing.Select(c => SqlStatement.Plain($"ALTER TABLE {c.Owner} ADD CONSTRAINT {SqlText.Identifier(c.Name)} {c.Definition}")));
        return new DeferredIndexes(drops, rebuilds);
    }
}
