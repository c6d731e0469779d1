using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Migration;

/// <summary>Reads a table's shape from the catalog of whichever server it lives on.</summary>
internal static class TableCatalog
{
    public sealed record TableInfo(uint Oid, char Kind, IReadOnlyList<TableColumn> Columns);

    /// <summary>The table and its columns in order, or null when there is no such table.</summary>
    public static async Task<TableInfo?> FindAsync(NpgsqlConnection connection, string schema, string table, CancellationToken cancellationToken)
    {
        var relations = await SqlExecutor.ListAsync(connection,
            """
            SELECT c.oid, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
            """,
            r => (Oid: r.GetFieldValue<uint>(0), Kind: r.GetChar(1)), cancellationToken, schema, table).ConfigureAwait(false);
        if (relations.Count == 0)
        {
            return null;
        }

        var rows = await SqlExecutor.ListAsync(connection,
            """
            SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.atttypid, a.atttypmod,
                   a.attnotnull, a.atthasdef, a.attidentity, a.attgenerated <> ''
            FROM pg_attribute a
            WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
            """,
            r => (Name: r.GetString(0), Formatted: r.GetString(1), Type: r.GetFieldValue<uint>(2), Typmod: r.GetInt32(3),
                NotNull: r.GetBoolean(4), HasDefault: r.GetBoolean(5), Identity: r.GetChar(6), Generated: r.GetBoolean(7)),
            cancellationToken, relations[0].Oid).ConfigureAwait(false);
        var shapes = await TypeCatalog.DescribeAsync(connection, rows.Select(r => (r.Type, r.Typmod)).ToList(), cancellationToken).ConfigureAwait(false);
        var columns = rows.Select((r, i) => new TableColumn(r.Name, r.Formatted, r.Type, shapes[i], r.NotNull, r.HasDefault, r.Identity, r.Generated)).ToList();
        return new TableInfo(relations[0].Oid, relations[0].Kind, columns);
    }
}
