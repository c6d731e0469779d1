using Confiture.Core.Connections;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Catalog;

/// <summary>
/// Lists schema and table names for a person choosing among them (argument completion, pickers).
/// Reads <c>pg_namespace</c> and <c>pg_class</c> only, so it is cheap, needs no privilege on the
/// tables themselves, and works while a migration runs.
/// </summary>
public static class CatalogBrowser
{
    /// <summary>At most this many names come back: a longer list helps nobody pick.</summary>
    public const int MaxNames = 500;

    /// <summary>
    /// The user schemas of the database (system schemas left out) whose names start with
    /// <paramref name="prefix"/>, ignoring case, sorted.
    /// </summary>
    /// <param name="endpoint">The database to read.</param>
    /// <param name="prefix">The start of the name typed so far; null or empty for all.</param>
    /// <param name="cancellationToken">Stops the read; callers that must stay responsive pass a short timeout.</param>
    public static async Task<IReadOnlyList<string>> SchemasAsync(DatabaseEndpoint endpoint, string? prefix = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        await using var connection = await endpoint.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await ListAsync(connection,
            """
            SELECT n.nspname FROM pg_namespace n
            WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
              AND lower(left(n.nspname, length($1))) = lower($1)
            ORDER BY 1 LIMIT $2
            """,
            prefix, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The tables, views and foreign tables of a schema (partitions left out: their parent stands
    /// for them) whose names start with <paramref name="prefix"/>, ignoring case, sorted. An unknown
    /// schema gives an empty list.
    /// </summary>
    /// <param name="endpoint">The database to read.</param>
    /// <param name="schema">The schema to list.</param>
    /// <param name="prefix">The start of the name typed so far; null or empty for all.</param>
    /// <param name="cancellationToken">Stops the read; callers that must stay responsive pass a short timeout.</param>
    public static async Task<IReadOnlyList<string>> TablesAsync(DatabaseEndpoint endpoint, string schema, string? prefix = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentException.ThrowIfNullOrEmpty(schema);
        await using var connection = await endpoint.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await ListAsync(connection,
            """
            SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $3 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
              AND lower(left(c.relname, length($1))) = lower($1)
            ORDER BY 1 LIMIT $2
            """,
            prefix, cancellationToken, schema).ConfigureAwait(false);
    }

    private static async Task<IReadOnlyList<string>> ListAsync(
        NpgsqlConnection connection, string sql, string? prefix, CancellationToken cancellationToken, params object[] more)
    {
        // A prefix compared by lower(left(...)) needs no LIKE escaping: '%' or '_' typed by the user are plain characters.
        object[] parameters = [prefix ?? string.Empty, MaxNames, .. more];
        return await SqlExecutor.ListAsync(connection, sql, r => r.GetString(0), cancellationToken, parameters).ConfigureAwait(false);
    }
}
