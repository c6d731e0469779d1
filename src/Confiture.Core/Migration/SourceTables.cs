using Confiture.Core.Connections;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Migration;

/// <summary>
/// Confiture moves and compares tables. A source schema also holds views, materialized views and
/// foreign tables (setup imports them all, as postgres_fdw does): their rows are not data of this
/// database (a view's are computed from the tables, an unpopulated materialized view has none, a
/// foreign table's live elsewhere), so they are left out of every default list and refused by name
/// with what they are. A partition's rows belong to its partitioned table, which moves them all.
/// </summary>
internal static class SourceTables
{
    private sealed record Relation(string Name, char Kind, string? RootSchema, string? Root);

    /// <summary>The names among <paramref name="names"/> that are tables of their own (plain or partitioned, not partitions), in the order given.</summary>
    public static async Task<IReadOnlyList<string>> OnlyTablesAsync(NpgsqlConnection connection, string schema, IReadOnlyList<string> names, CancellationToken cancellationToken)
    {
        var relations = await DescribeAsync(connection, schema, names, cancellationToken).ConfigureAwait(false);
        var tables = relations.Where(r => Problem(r) is null).Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        return names.Where(tables.Contains).ToList();
    }

    /// <summary>As <see cref="RequireTableAsync(NpgsqlConnection, DatabaseEndpoint, string, string, string, CancellationToken)"/>, on a connection of its own.</summary>
    public static async Task RequireTableAsync(DatabaseEndpoint source, string schema, string name, string action, CancellationToken cancellationToken)
    {
        await using var connection = await source.OpenAsync(cancellationToken).ConfigureAwait(false);
        await RequireTableAsync(connection, source, schema, name, action, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Refuses a name that is a view, a materialized view, a foreign table or a partition, saying
    /// which; does nothing for a table, or for a name that does not exist (the caller says "not found").
    /// </summary>
    /// <param name="connection">An open connection to the source.</param>
    /// <param name="source">The source, for the message.</param>
    /// <param name="schema">The source schema.</param>
    /// <param name="name">The name given as a table.</param>
    /// <param name="action">What was asked, as a verb: "migrate", "verify", "plan a migration of".</param>
    /// <param name="cancellationToken">Stops the work.</param>
    public static async Task RequireTableAsync(
        NpgsqlConnection connection, DatabaseEndpoint source, string schema, string name, string action, CancellationToken cancellationToken)
    {
        SqlText.RejectNul(schema, "name");
        SqlText.RejectNul(name, "name");
        var relations = await DescribeAsync(connection, schema, [name], cancellationToken).ConfigureAwait(false);
        if (relations.Count == 0 || Problem(relations[0]) is not { } problem)
        {
            return;
        }

        var relation = relations[0];
        var (what, recommended) = relation switch
        {
            { Kind: 'f' } => ("is a foreign table (its rows live on another server)",
                $"Leave \"{name}\" out, or migrate the table it points at from the server that holds it."),
            { Root: { } root } => ($"is a partition of the partitioned table \"{relation.RootSchema}\".\"{root}\"",
                $"Name \"{root}\" instead: migrating or verifying it covers every one of its partitions."),
            _ => ($"is a {problem}",
                $"Leave \"{name}\" out: Confiture moves tables only. Migrate the tables the {problem} reads from, and create it on the target with the new schema."),
        };
        throw new ConfitureException(ConfitureErrorKind.NotATable,
            $"Cannot {action} \"{schema}\".\"{name}\" of the source database {source}: it {what}, not a table.", name, recommended);
    }

    /// <summary>What the relation is when it is not a table of its own; null for a table.</summary>
    private static string? Problem(Relation relation) => relation.Kind switch
    {
        'v' => "view",
        'm' => "materialized view",
        'f' => "foreign table",
        _ when relation.Root is not null => "partition",
        _ => null,
    };

    private static async Task<IReadOnlyList<Relation>> DescribeAsync(NpgsqlConnection connection, string schema, IReadOnlyList<string> names, CancellationToken cancellationToken) =>
        await SqlExecutor.ListAsync(connection,
            """
            SELECT c.relname, c.relkind, rn.nspname, r.relname
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_class r ON c.relispartition AND r.oid = pg_partition_root(c.oid)
            LEFT JOIN pg_namespace rn ON rn.oid = r.relnamespace
            WHERE n.nspname = $1 AND c.relname = ANY ($2) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
            """,
            r => new Relation(r.GetString(0), r.GetChar(1), r.IsDBNull(2) ? null : r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3)),
            cancellationToken, schema, names.ToArray()).ConfigureAwait(false);
}
