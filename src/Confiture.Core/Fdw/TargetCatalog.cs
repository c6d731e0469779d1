using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Fdw;

/// <summary>The catalog reads that setup and cleanup share on the target.</summary>
internal static class TargetCatalog
{
    public sealed record ForeignServer(uint Oid, string Wrapper, string? Comment, IReadOnlyDictionary<string, string> Options);

    public sealed record Schema(uint Oid, string? Comment);

    public static async Task<ForeignServer?> FindServerAsync(NpgsqlConnection connection, string name, CancellationToken cancellationToken)
    {
        var rows = await SqlExecutor.ListAsync(connection,
            """
            SELECT s.oid, w.fdwname, obj_description(s.oid, 'pg_foreign_server'), coalesce(s.srvoptions, '{}')
            FROM pg_foreign_server s JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw
            WHERE s.srvname = $1
            """,
            r => new ForeignServer(r.GetFieldValue<uint>(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), ParseOptions(r.GetFieldValue<string[]>(3))),
            cancellationToken, name).ConfigureAwait(false);
        return rows.Count == 0 ? null : rows[0];
    }

    public static async Task<Schema?> FindSchemaAsync(NpgsqlConnection connection, string name, CancellationToken cancellationToken)
    {
        var rows = await SqlExecutor.ListAsync(connection,
            "SELECT oid, obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1",
            r => new Schema(r.GetFieldValue<uint>(0), r.IsDBNull(1) ? null : r.GetString(1)),
            cancellationToken, name).ConfigureAwait(false);
        return rows.Count == 0 ? null : rows[0];
    }

    /// <summary>The server's foreign tables, as (schema, table), optionally only those in one schema.</summary>
    public static Task<List<(string Schema, string Table)>> ForeignTablesAsync(
        NpgsqlConnection connection, uint serverOid, uint? schemaOid, CancellationToken cancellationToken) =>
        SqlExecutor.ListAsync(connection,
            """
            SELECT n.nspname, c.relname
            FROM pg_foreign_table ft
            JOIN pg_class c ON c.oid = ft.ftrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE ft.ftserver = $1 AND ($2::oid IS NULL OR c.relnamespace = $2)
            ORDER BY 1, 2
            """,
            r => (r.GetString(0), r.GetString(1)),
            cancellationToken, serverOid, schemaOid);

    /// <summary>
    /// Every object in the schema except the given relations (the foreign tables Confiture's record
    /// lists). Each object in a schema depends on it ('n' in pg_depend), whatever its kind, so this
    /// misses nothing.
    /// </summary>
    public static Task<List<string>> OtherObjectsInSchemaAsync(
        NpgsqlConnection connection, uint schemaOid, IReadOnlyCollection<uint> except, CancellationToken cancellationToken) =>
        SqlExecutor.ListAsync(connection,
            """
            SELECT pg_describe_object(d.classid, d.objid, d.objsubid)
            FROM pg_depend d
            WHERE d.refclassid = 'pg_namespace'::regclass AND d.refobjid = $1 AND d.deptype = 'n'
              AND NOT (d.classid = 'pg_class'::regclass AND d.objid = ANY ($2::oid[]))
            ORDER BY 1
            """,
            r => r.GetString(0),
            cancellationToken, schemaOid, except.Select(o => (long)o).ToArray());

    /// <summary>The names of the foreign tables in a schema of the target (empty when there is no such schema).</summary>
    public static async Task<IReadOnlySet<string>> ForeignTableNamesAsync(Connections.DatabaseEndpoint target, string schema, CancellationToken cancellationToken)
    {
        await using var connection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
        var names = await SqlExecutor.ListAsync(connection,
            """
            SELECT c.relname FROM pg_foreign_table ft JOIN pg_class c ON c.oid = ft.ftrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1
            """,
            r => r.GetString(0), cancellationToken, schema).ConfigureAwait(false);
        return names.ToHashSet(StringComparer.Ordinal);
    }

    private static Dictionary<string, string> ParseOptions(string[] options) =>
        options.Select(o => o.Split('=', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : string.Empty, StringComparer.Ordinal);
}
