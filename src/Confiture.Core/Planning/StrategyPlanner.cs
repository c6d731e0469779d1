using System.Globalization;
using Confiture.Core.Connections;
using Confiture.Core.Fdw;
using Confiture.Core.Migration;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Planning;

/// <summary>
/// Sizes each source table (rows from the statistics, counted where never analyzed; bytes on disk
/// and row width from <c>pg_stats</c>), then times a sample of its first rows through each path into
/// a rolled-back temporary copy of the target table, and advises the faster. What costs time is what
/// the samples see: the bytes, the columns' types (postgres_fdw parses every value as text on the
/// target; binary COPY does not), the target's indexes and checks. Foreign-key checks, triggers and
/// WAL, which a temporary table cannot show, are added from reference figures and named.
/// </summary>
internal static class StrategyPlanner
{
    /// <summary>The share of the larger estimate two sampled strategies may differ by and still count as equal.</summary>
    private const double NoiseShare = 0.2;

    private sealed record SourceTable(string Name, long Estimate, bool Partitioned, long Bytes, double? StatsWidth);

    private sealed record TargetFacts(int Indexes, int ForeignKeys, int Triggers);

    /// <param name="source">The source database.</param>
    /// <param name="target">The target database.</param>
    /// <param name="settings">The session's settings (its foreign schema).</param>
    /// <param name="schema">The source schema.</param>
    /// <param name="tables">Only these tables; null for all.</param>
    /// <param name="options">How to decide and estimate.</param>
    /// <param name="imported">The tables the target can read through postgres_fdw; the rest can only be copied.</param>
    /// <param name="map">The session's map (the target table of each source table); null for the same names in public.</param>
    /// <param name="cancellationToken">Stops the work.</param>
    public static async Task<IReadOnlyList<TableStrategy>> AnalyzeAsync(
        DatabaseEndpoint source, DatabaseEndpoint target, FdwSettings settings, string schema, IReadOnlyList<string>? tables,
        StrategyOptions options, IReadOnlySet<string> imported, MigrationMap? map, CancellationToken cancellationToken)
    {
        options.Validate();
        await using var connection = await source.OpenAsync(cancellationToken).ConfigureAwait(false);
        var found = await SizeAsync(connection, source, schema, tables, cancellationToken).ConfigureAwait(false);

        var migrator = new TableMigrator(source, target, settings, NullObserver.Instance);
        var sampler = new PathSampler(source, migrator, settings.ForeignSchema);
        await using var targetConnection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
        var plans = new List<TableStrategy>(found.Count);
        foreach (var table in found)
        {
            // reltuples is -1 until the first ANALYZE (or VACUUM); a partitioned parent keeps no estimate of its own.
            var exact = table.Estimate < 0 || table.Partitioned;
            var rows = exact
                ? await SqlExecutor.ScalarAsync<long>(connection, $"SELECT count(*) FROM {SqlText.Qualified(schema, table.Name)}", cancellationToken).ConfigureAwait(false)
                : table.Estimate;
            var entry = map?.For(table.Name) ?? TableMap.Empty;
            var request = new TableMigrationRequest
            {
                SourceTable = table.Name, SourceSchema = schema, TargetTable = entry.TargetTable, TargetSchema = entry.TargetSchema ?? "public", Map = entry,
            };
            var fdwPossible = imported.Contains(table.Name);
            plans.Add(await PlanTableAsync(targetConnection, sampler, migrator, table, rows, exact, request, fdwPossible, options, cancellationToken).ConfigureAwait(false));
        }

        return plans;
    }

    private static async Task<IReadOnlyList<SourceTable>> SizeAsync(
        NpgsqlConnection connection, DatabaseEndpoint source, string schema, IReadOnlyList<string>? tables, CancellationToken cancellationToken)
    {
        var schemaExists = await SqlExecutor.ScalarAsync<bool>(connection,
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", cancellationToken, schema).ConfigureAwait(false);
        if (!schemaExists)
        {
            throw new ConfitureException(ConfitureErrorKind.SchemaNotFound,
                $"Schema \"{schema}\" does not exist in the source database {source}.", schema, "Check -Schema (names are case-sensitive).");
        }

        // pg_stats' avg_width counts the non-null values: times (1 - null_frac) it is bytes per row.
        var found = await SqlExecutor.ListAsync(connection,
            """
            SELECT c.relname, c.reltuples::bigint, c.relkind = 'p',
                   CASE WHEN c.relkind = 'p' THEN (SELECT coalesce(sum(pg_table_size(t.relid)), 0) FROM pg_partition_tree(c.oid) t)::bigint
                        ELSE pg_table_size(c.oid) END,
                   (SELECT sum(s.avg_width * (1 - s.null_frac)) FROM pg_stats s
                    WHERE s.schemaname = n.nspname AND s.tablename = c.relname AND s.inherited = (c.relkind = 'p'))::float8
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
              AND ($2::text[] IS NULL OR c.relname = ANY ($2))
            ORDER BY c.relname
            """,
            r => new SourceTable(r.GetString(0), r.GetInt64(1), r.GetBoolean(2), r.GetInt64(3), r.IsDBNull(4) ? null : r.GetDouble(4)),
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
                var names = await SqlExecutor.ListAsync(connection,
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition",
                    r => r.GetString(0), cancellationToken, schema).ConfigureAwait(false);
                throw new ConfitureException(ConfitureErrorKind.TableNotFound,
                    $"Table(s) {string.Join(", ", missing.Select(t => $"\"{t}\"{TableNames.DidYouMean(t, names)}"))} not found in schema \"{schema}\" of the source database {source}.",
                    missing[0], "Check the names (they are case-sensitive) and -Schema.");
            }
        }

        return found;
    }

    private static async Task<TableStrategy> PlanTableAsync(
        NpgsqlConnection target, PathSampler sampler, TableMigrator migrator, SourceTable table, long rows, bool exact,
        TableMigrationRequest request, bool fdwPossible, StrategyOptions options, CancellationToken cancellationToken)
    {
        var assumptions = new List<string>();
        var bytes = table.Bytes;
        assumptions.Add($"{Rows(rows)} rows{(exact ? " (counted)" : " (pg_class.reltuples)")}, {Megabytes(bytes)} on the source (pg_table_size)");
        if (!fdwPossible)
        {
            assumptions.Add($"no foreign table of \"{table.Name}\" in the session: only Copy can move it");
        }

        // A sample needs the target table (its shape and indexes) and a mapping that resolves.
        MigrationPlan? plan = null;
        if (options.Sample)
        {
            try
            {
                plan = await migrator.PlanAsync(target, request, MigrationStrategy.Copy, cancellationToken).ConfigureAwait(false);
            }
            catch (ConfitureException ex) when (ex.Kind != ConfitureErrorKind.Cancelled)
            {
                // A target table not created yet, or a map that does not resolve: the load would say so; the plan still sizes the source.
                assumptions.Add($"not sampled: {ex.Message} Estimated from the source only");
            }
        }

        PathSampler.Result? measured = null;
        TargetFacts? facts = null;
        if (plan is not null)
        {
            facts = await TargetFactsAsync(target, plan.TargetOid, cancellationToken).ConfigureAwait(false);
            try
            {
                var sampleRows = SampleRows(rows, table.StatsWidth ?? (rows > 0 ? (double)bytes / rows : 100), options);
                measured = await sampler.MeasureAsync(target, plan, sampleRows, rows, fdwPossible, cancellationToken).ConfigureAwait(false);
            }
            catch (PostgresException ex) when (!cancellationToken.IsCancellationRequested)
            {
                // No right to create temporary tables on the target, say, or a shape LIKE cannot copy:
                // the advice still stands on the sizes, and says why it was not sampled.
                assumptions.Add($"not sampled: {ex.MessageText}. Estimated from the source only");
            }
        }

        double copySeconds, width;
        double? fdwSeconds = null;
        string basis;
        if (plan is null || measured is null || facts is null)
        {
            width = table.StatsWidth ?? (rows > 0 ? (double)bytes / rows : 0);
            copySeconds = ReferenceRates.TableSeconds + ReferenceRates.CopyStartupSeconds + (bytes / ReferenceRates.CopyBytesPerSecond);
            fdwSeconds = fdwPossible ? ReferenceRates.TableSeconds + ReferenceRates.FdwStartupSeconds + (bytes / ReferenceRates.FdwBytesPerSecond) : null;
            basis = "SourceOnly";
            assumptions.Add($"reference rates: Copy {Megabytes(ReferenceRates.CopyBytesPerSecond)}/s, Fdw {Megabytes(ReferenceRates.FdwBytesPerSecond)}/s of source bytes (bench/RESULTS.md)");
        }
        else
        {
            width = table.StatsWidth ?? measured.RowWidth;
            // The first rows stand for the table scaled by its width: a table whose later rows are wider costs more per row.
            var ratio = table.StatsWidth is { } stats && measured.RowWidth > 0 ? Math.Clamp(stats / measured.RowWidth, 0.25, 4) : 1;
            copySeconds = Scale(measured.Copy, rows, ratio) + measured.AnalyzeSeconds;
            fdwSeconds = measured.Fdw is { } fdwCost ? Scale(fdwCost, rows, ratio) + measured.AnalyzeSeconds : null;
            basis = measured.Fdw is null ? "SampledCopy" : "Sampled";

            assumptions.Add($"row width {width.ToString("0", CultureInfo.InvariantCulture)} bytes ({(table.StatsWidth is null ? "of the sample; the table has no statistics" : "pg_stats")})"
                + (Math.Abs(ratio - 1) > 0.05 ? $", the sampled rows {measured.RowWidth.ToString("0", CultureInfo.InvariantCulture)} bytes" : string.Empty));
            assumptions.Add($"sampled {Rows(measured.Copy.SampledRows)} rows into a rolled-back copy of {plan.QualifiedTarget} with its {facts.Indexes} index(es)"
                + (facts.ForeignKeys > 0 ? $" and {facts.ForeignKeys} foreign key(s) (against copies of the keys the rows reference)" : string.Empty) + ": "
                + $"Copy {Rate(measured.Copy, width)} after {Milliseconds(measured.Copy.StartupSeconds)} to start"
                + (measured.Fdw is { } f ? $", Fdw {Rate(f, width)} after {Milliseconds(f.StartupSeconds)} to start" : string.Empty));
            assumptions.Add($"ANALYZE after the load {Milliseconds(measured.AnalyzeSeconds)} (timed on the sample, for the rows it will read), in both estimates");
            if (measured.FdwFailure is not null)
            {
                assumptions.Add($"the Fdw sample failed ({measured.FdwFailure}): Copy only");
            }

            if (facts.Triggers > 0)
            {
                assumptions.Add($"{facts.Triggers} trigger(s) on the target table not sampled: their cost is not in the estimate");
            }

            if (plan.Sequences.Count > 0 || plan.Columns.Any(c => c.Conversion != ConversionKind.None))
            {
                assumptions.Add("conversions and generated values as the load runs them (sampled)");
            }
        }

        return Decide(request.SourceSchema!, table, rows, exact, bytes, width, copySeconds, fdwSeconds, basis, assumptions, options);
    }

    private static TableStrategy Decide(
        string schema, SourceTable table, long rows, bool exact, long bytes, double width, double copySeconds, double? fdwSeconds, string basis,
        List<string> assumptions, StrategyOptions options)
    {
        if (options.CopyRowsPerSecond is { } copyRate)
        {
            copySeconds = rows / copyRate;
            basis = "Rates";
            assumptions.Add($"Copy at the {Rows((long)copyRate)} rows/s given");
        }

        if (options.FdwRowsPerSecond is { } fdwRate && fdwSeconds is not null)
        {
            fdwSeconds = rows / fdwRate;
            basis = "Rates";
            assumptions.Add($"Fdw at the {Rows((long)fdwRate)} rows/s given");
        }

        MigrationStrategy strategy;
        if (fdwSeconds is null)
        {
            strategy = MigrationStrategy.Copy;
        }
        else if (options.CopyThreshold is { } threshold)
        {
            strategy = options.ChooseByRows(rows);
            basis = "Threshold";
            assumptions.Add($"decided by rows: Copy from {Rows(threshold)} rows (-CopyThreshold)");
        }
        else if (basis.StartsWith("Sampled", StringComparison.Ordinal) && Math.Abs(copySeconds - fdwSeconds.Value) <= NoiseShare * Math.Max(copySeconds, fdwSeconds.Value))
        {
            // Timings on a busy machine move by more than this: samples this close cannot tell the
            // paths apart, and the reference rates (source bytes, each path's fixed cost) decide.
            var copyByBytes = ReferenceRates.CopyStartupSeconds + (bytes / ReferenceRates.CopyBytesPerSecond);
            var fdwByBytes = ReferenceRates.FdwStartupSeconds + (bytes / ReferenceRates.FdwBytesPerSecond);
            strategy = copyByBytes < fdwByBytes ? MigrationStrategy.Copy : MigrationStrategy.Fdw;
            assumptions.Add($"the two samples are within {NoiseShare * 100:0} % of each other: decided by the reference rates of source bytes");
        }
        else
        {
            strategy = copySeconds < fdwSeconds ? MigrationStrategy.Copy : MigrationStrategy.Fdw;
        }

        var estimate = strategy == MigrationStrategy.Copy ? copySeconds : fdwSeconds!.Value;
        assumptions.Add("indexes kept up during the load (as without -DeferIndexes), one table at a time");
        return new TableStrategy(schema, table.Name, rows, exact, strategy, estimate)
        {
            SizeBytes = bytes, RowWidth = width, CopySeconds = copySeconds, FdwSeconds = fdwSeconds, Basis = basis, Assumptions = assumptions,
        };
    }

    private static double Scale(PathCost cost, long rows, double ratio) =>
        ReferenceRates.TableSeconds + cost.Estimate(rows, ratio);

    /// <summary>Enough rows to time the row cost above the noise, within the sample's row and byte limits.</summary>
    private static long SampleRows(long rows, double width, StrategyOptions options) =>
        Math.Max(2, Math.Min(Math.Max(rows, 2), Math.Min(options.SampleRows, (long)(options.SampleBytes / Math.Max(width, 1)))));

    private static async Task<TargetFacts> TargetFactsAsync(NpgsqlConnection target, uint oid, CancellationToken cancellationToken)
    {
        var facts = await SqlExecutor.ListAsync(target,
            """
            SELECT (SELECT count(*) FROM pg_index WHERE indrelid = $1)::int,
                   (SELECT count(*) FROM pg_constraint WHERE conrelid = $1 AND contype = 'f')::int,
                   (SELECT count(*) FROM pg_trigger WHERE tgrelid = $1 AND NOT tgisinternal)::int
            """,
            r => new TargetFacts(r.GetInt32(0), r.GetInt32(1), r.GetInt32(2)), cancellationToken, oid).ConfigureAwait(false);
        return facts[0];
    }

    private static string Rows(long rows) => rows.ToString("N0", CultureInfo.InvariantCulture);

    private static string Megabytes(double bytes) => (bytes / 1e6).ToString(bytes < 1e7 ? "0.##" : "0", CultureInfo.InvariantCulture) + " MB";

    private static string Milliseconds(double seconds) => (seconds * 1000).ToString("0.#", CultureInfo.InvariantCulture) + " ms";

    private static string Rate(PathCost cost, double width) =>
        cost.SecondsPerRow > 0
            ? $"{(1 / cost.SecondsPerRow).ToString("N0", CultureInfo.InvariantCulture)} rows/s ({Megabytes(width / cost.SecondsPerRow)}/s)"
            : "no measurable row cost";
}
