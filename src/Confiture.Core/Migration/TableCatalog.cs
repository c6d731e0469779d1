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

        // format_type names the type as the server would accept it back; arrays of user types and
        // composites carry type OIDs in binary COPY, which differ between servers, so they need text.
        var columns = await SqlExecutor.ListAsync(connection,
            """
            SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.atttypid, tn.nspname, a.atttypmod, t.typtype,
                   (t.typcategory = 'A' AND t.typelem >= 16384) OR t.typtype = 'c'
                     OR (t.typtype = 'd' AND EXISTS (SELECT 1 FROM pg_type b WHERE b.oid = t.typbasetype
                                                     AND ((b.typcategory = 'A' AND b.typelem >= 16384) OR b.typtype = 'c'))),
                   a.attnotnull, a.atthasdef, a.attidentity, a.attgenerated <> ''
            FROM pg_attribute a
            JOIN pg_type t ON t.oid = a.atttypid
            JOIN pg_namespace tn ON tn.oid = t.typnamespace
            WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
            """,
            r => new TableColumn(
                r.GetString(0), r.GetString(1), r.GetFieldValue<uint>(2), r.GetString(3), r.GetInt32(4), r.GetChar(5),
                r.GetBoolean(6), r.GetBoolean(7), r.GetBoolean(8), r.GetChar(9), r.GetBoolean(10)),
            cancellationToken, relations[0].Oid).ConfigureAwait(false);
        return new TableInfo(relations[0].Oid, relations[0].Kind, columns);
    }
}
