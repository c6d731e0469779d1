using Confiture.Core.Connections;
using Confiture.Core.Migration;
using Confiture.Core.Sql;

namespace Confiture.Core.Planning;

/// <summary>
/// Sizes each source table from the statistics (<c>pg_class.reltuples</c>), counting only the
/// tables that were never analyzed, and picks a strategy by size.
/// </summary>
internal static class StrategyPlanner
{
    /// <param name="source">The source database.</param>
    /// <param name="schema">The source schema.</param>
    /// <param name="tables">Only these tables; null for all.</param>
    /// <param name="options">Threshold and throughput figures.</param>
    /// <param name="imported">The tables the target can read through postgres_fdw; the rest can only be copied.</param>
    /// <param name="cancellationToken">Stops the work.</param>
    public static async Task<IReadOnlyList<TableStrategy>> AnalyzeAsync(
        DatabaseEndpoint source, string schema, IReadOnlyList<string>? tables, StrategyOptions options, IReadOnlySet<string> imported, CancellationToken cancellationToken)
    {
        options.Validate();
        await using var connection = await source.OpenAsync(cancellationToken).ConfigureAwait(false);
        var schemaExists = await SqlExecutor.ScalarAsync<bool>(connection,
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", cancellationToken, schema).ConfigureAwait(false);
        if (!schemaExists)
        {
            throw new ConfitureException(ConfitureErrorKind.SchemaNotFound,
                $"Schema \"{schema}\" does not exist in the source database {source}.", schema, "Check -Schema (names are case-sensitive).");
        }

        var found = await SqlExecutor.ListAsync(connection,
            """
            SELECT c.relname, c.reltuples::bigint, c.relkind = 'p'
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
              AND ($2::text[] IS NULL OR c.relname = ANY ($2))
            ORDER BY c.relname
            """,
            r => (Name: r.GetString(0), Estimate: r.GetInt64(1), Partitioned: r.GetBoolean(2)),
            cancellationToken, schema, tables is { Count: > 0 } ? tables.ToArray() : null).ConfigureAwait(false);

        if (tables is { Count: > 0 })
        {
            var missing = tables.Where(t => found.All(f => f.Name != t)).ToList();
            foreach (var name in missing)
            {
                await SourceTables.RequireTableAsync(connection, source, schema, name, "plan a migration of", cancellationToken).ConfigureAwait(false);
            }

            if (missing.Count > 0)
            {
                throw new ConfitureException(ConfitureErrorKind.TableNotFound,
                    $"Table(s) {string.Join(", ", missing.Select(t => $"\"{t}\""))} not found in schema \"{schema}\" of the source database {source}.",
                    missing[0], "Check the names (they are case-sensitive) and -Schema.");
            }
        }

        var plans = new List<TableStrategy>(found.Count);
        foreach (var (name, estimate, partitioned) in found)
        {
            // reltuples is -1 until the first ANALYZE (or VACUUM); a partitioned parent keeps no estimate of its own.
            var exact = estimate < 0 || partitioned;
            var rows = exact
                ? await SqlExecutor.ScalarAsync<long>(connection, $"SELECT count(*) FROM {SqlText.Qualified(schema, name)}", cancellationToken).ConfigureAwait(false)
                : estimate;
            var strategy = imported.Contains(name) ? options.Choose(rows) : MigrationStrategy.Copy;
            plans.Add(new TableStrategy(schema, name, rows, exact, strategy, options.EstimateSeconds(rows, strategy)));
        }

        return plans;
    }
}
