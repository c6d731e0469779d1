using System.Diagnostics;
using System.Globalization;
using Confiture.Core.Connections;
using Confiture.Core.Migration;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Planning;

/// <summary>
/// Times the first rows of a table through each path, into a temporary table of the target table's
/// shape (its defaults, checks, generated columns and indexes) inside a transaction that is rolled
/// back: nothing is written to the target table, and nothing stays on either server.
/// </summary>
internal sealed class PathSampler(DatabaseEndpoint source, TableMigrator migrator, string foreignSchema)
{
    private const string Sample = "confiture_plan_sample";
    private const string QualifiedSample = "pg_temp." + Sample;

    /// <summary>Rows of the small sample, which measures the fixed cost.</summary>
    private const int StartupRows = 10;

    /// <summary>Rows of the probe that sizes the large sample.</summary>
    private const int ProbeRows = 1000;

    /// <summary>About how long the largest sample of Copy takes (Fdw's takes its own time on the same rows).</summary>
    private const double LargeSampleSeconds = 0.3;

    /// <summary>Timings per sample, of which the median counts.</summary>
    private const int Repeats = 3;

    /// <summary>What the samples measured.</summary>
    /// <param name="Copy">The Copy path's cost.</param>
    /// <param name="Fdw">The Fdw path's cost; null when it was not sampled.</param>
    /// <param name="FdwFailure">Why the Fdw sample failed, when it did.</param>
    /// <param name="RowWidth">The average bytes of row data of the sampled rows.</param>
    /// <param name="AnalyzeSeconds">What the ANALYZE after a load of the table takes, from one of the sample.</param>
    public sealed record Result(PathCost Copy, PathCost? Fdw, string? FdwFailure, double RowWidth, double AnalyzeSeconds);

    /// <param name="target">An open target connection without a transaction.</param>
    /// <param name="plan">The table's Copy plan (its columns and conversions, as a load would run them).</param>
    /// <param name="maxRows">Most rows of the large sample (the table's rows at most).</param>
    /// <param name="tableRows">The table's rows, which its ANALYZE reads a sample of.</param>
    /// <param name="fdw">Whether to sample the Fdw path too.</param>
    /// <param name="cancellationToken">Stops the work.</param>
    public async Task<Result> MeasureAsync(NpgsqlConnection target, MigrationPlan plan, long maxRows, long tableRows, bool fdw, CancellationToken cancellationToken)
    {
        await using var sourceConnection = await source.OpenAsync(cancellationToken).ConfigureAwait(false);
        var order = await FirstRowsOrderAsync(sourceConnection, plan, cancellationToken).ConfigureAwait(false);
        await using var transaction = await target.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        // LIKE reads the target table's definition under a share lock: a load of that table holding
        // it exclusively makes the plan go without a sample rather than wait for the load to end.
        await ExecuteAsync(target, "SET LOCAL lock_timeout = '2s'", cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(target, $"CREATE TEMP TABLE {Sample} (LIKE {plan.QualifiedTarget} INCLUDING ALL) ON COMMIT DROP", cancellationToken).ConfigureAwait(false);
        var oid = await RowWriter.TemporaryTableOidAsync(target, QualifiedSample, cancellationToken).ConfigureAwait(false);
        await DetachSequencesAsync(target, oid, cancellationToken).ConfigureAwait(false);
        var sample = new SampleLoad(plan with { QualifiedTarget = QualifiedSample, TargetOid = oid, TargetKind = 'r' }, order);

        // A few rows measure the fixed cost, a probe the rough row cost, which sizes the large sample
        // to about LargeSampleSeconds: enough to time above the noise, little enough to stay quick.
        // Each timing is the median of a few, Copy and Fdw in turn, so that a moment of contention
        // on a shared machine moves neither path alone.
        var smallRows = Math.Min(StartupRows, maxRows);
        var copySmall = await MedianAsync(() => TimeCopyAsync(sourceConnection, target, sample, smallRows, cancellationToken)).ConfigureAwait(false);
        var probeRows = Math.Min(ProbeRows, maxRows);
        var probe = await TimeCopyAsync(sourceConnection, target, sample, probeRows, cancellationToken).ConfigureAwait(false);
        var rows = Size(copySmall, probe, probeRows, maxRows);
        if (rows > probeRows)
        {
            // The first thousand rows cost more each than the next ones (caches, buffers): a first
            // sample of the size they suggest sizes the ones that count.
            var first = await TimeCopyAsync(sourceConnection, target, sample, rows, cancellationToken).ConfigureAwait(false);
            rows = Size(copySmall, first, rows, maxRows);
        }

        var foreignKeys = await ForeignKeysAsync(target, plan.TargetOid, cancellationToken).ConfigureAwait(false);
        if (foreignKeys.Count > 0)
        {
            await ReferenceSampleAsync(sourceConnection, target, sample, rows, foreignKeys, cancellationToken).ConfigureAwait(false);
            // A check per row and key can cost more than the row itself: sized again with the keys in
            // place (never larger, so every key the sample references is still there).
            var checkedSample = await TimeCopyAsync(sourceConnection, target, sample, rows, cancellationToken).ConfigureAwait(false);
            rows = Size(copySmall, checkedSample, Math.Min(probeRows, rows), rows);
        }

        string? failure = null;
        (long Rows, double Seconds)? fdwSmall = null;
        if (fdw)
        {
            await ExecuteAsync(target, "SAVEPOINT confiture_plan_fdw", cancellationToken).ConfigureAwait(false);
            // The first statement through the foreign server on a target session opens postgres_fdw's
            // connection to the source; pooled sessions keep it, so a load seldom pays it: not timed.
            failure = await TryFdwAsync(target, () => TimeFdwAsync(target, sample, smallRows, cancellationToken), cancellationToken).ConfigureAwait(false);
            if (failure is null)
            {
                fdwSmall = await MedianAsync(() => TimeFdwAsync(target, sample, smallRows, cancellationToken)).ConfigureAwait(false);
            }
        }

        // The larger samples in turn, Copy and Fdw, on the same rows, each several times: their
        // medians count.
        var copyLarge = new List<double>(Repeats);
        var fdwLarge = new List<double>(Repeats);
        for (var i = 0; i < Repeats; i++)
        {
            copyLarge.Add((await TimeCopyAsync(sourceConnection, target, sample, rows, cancellationToken).ConfigureAwait(false)).Seconds);
            if (fdwSmall is not null && failure is null)
            {
                failure = await TryFdwAsync(target, async () =>
                    fdwLarge.Add((await TimeFdwAsync(target, sample, rows, cancellationToken).ConfigureAwait(false)).Seconds), cancellationToken).ConfigureAwait(false);
            }
        }

        var copy = PathCost.From(copySmall.Seconds, rows, Median(copyLarge));
        var fdwCost = fdwSmall is { } small && failure is null ? PathCost.From(small.Seconds, rows, Median(fdwLarge)) : null;
        var width = await SampleWidthAsync(sourceConnection, plan, rows, cancellationToken).ConfigureAwait(false);
        var analyze = await TimeAnalyzeAsync(target, rows, tableRows, cancellationToken).ConfigureAwait(false);

        await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
        return new Result(copy, fdwCost, failure, width, analyze);
    }

    /// <summary>
    /// Runs one Fdw sample; a server error (a foreign table out of date with the source, a source
    /// the target cannot reach) is returned, after going back to the savepoint: the load would fail
    /// the same way, so Fdw is not advised.
    /// </summary>
    private static async Task<string?> TryFdwAsync(NpgsqlConnection target, Func<Task> sample, CancellationToken cancellationToken)
    {
        try
        {
            await sample().ConfigureAwait(false);
            return null;
        }
        catch (PostgresException ex)
        {
            await ExecuteAsync(target, "ROLLBACK TO SAVEPOINT confiture_plan_fdw", cancellationToken).ConfigureAwait(false);
            return ex.MessageText;
        }
    }

    /// <summary>Rows for a sample of about LargeSampleSeconds, from two timed ones, within the bounds.</summary>
    private static long Size((long Rows, double Seconds) small, (long Rows, double Seconds) larger, long least, long most)
    {
        var perRow = larger.Rows > small.Rows ? Math.Max(0, larger.Seconds - small.Seconds) / (larger.Rows - small.Rows) : 0;
        return perRow > 0 ? Math.Clamp((long)(LargeSampleSeconds / perRow), least, most) : most;
    }

    private static async Task<(long Rows, double Seconds)> MedianAsync(Func<Task<(long Rows, double Seconds)>> sample)
    {
        var runs = new List<(long Rows, double Seconds)>(Repeats);
        for (var i = 0; i < Repeats; i++)
        {
            runs.Add(await sample().ConfigureAwait(false));
        }

        return (runs[0].Rows, Median(runs.Select(r => r.Seconds).ToList()));
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        return values[values.Count / 2];
    }

    /// <summary>
    /// A copied default such as a serial's nextval('t_id_seq') would draw from the target's own
    /// sequence, which no rollback puts back: each such column draws from a temporary sequence instead.
    /// </summary>
    private static async Task DetachSequencesAsync(NpgsqlConnection target, uint oid, CancellationToken cancellationToken)
    {
        var columns = await SqlExecutor.ListAsync(target,
            """
            SELECT a.attname FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
            WHERE d.adrelid = $1 AND pg_get_expr(d.adbin, d.adrelid) ~* 'nextval|currval|setval'
            ORDER BY a.attnum
            """,
            r => r.GetString(0), cancellationToken, oid).ConfigureAwait(false);
        for (var i = 0; i < columns.Count; i++)
        {
            var sequence = $"pg_temp.confiture_plan_sequence_{i.ToString(CultureInfo.InvariantCulture)}";
            await ExecuteAsync(target, $"CREATE TEMP SEQUENCE {sequence}", cancellationToken).ConfigureAwait(false);
            await ExecuteAsync(target, $"ALTER TABLE {QualifiedSample} ALTER COLUMN {SqlText.Identifier(columns[i])} SET DEFAULT nextval({SqlText.Literal(sequence)})", cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The referencing columns of each foreign key of the target table.</summary>
    public static async Task<IReadOnlyList<string[]>> ForeignKeysAsync(NpgsqlConnection target, uint oid, CancellationToken cancellationToken) =>
        await SqlExecutor.ListAsync(target,
            """
            SELECT array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k (attnum, n)
                         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum ORDER BY k.n)
            FROM pg_constraint c WHERE c.conrelid = $1 AND c.contype = 'f' ORDER BY c.conname
            """,
            r => r.GetFieldValue<string[]>(0), cancellationToken, oid).ConfigureAwait(false);

    /// <summary>
    /// A temporary table cannot reference the target's tables, and a foreign-key check per row is a
    /// large part of a load: each key of the target table gets a temporary copy of the keys the
    /// sampled rows reference (from a first, untimed load of the sample), and the sample table a
    /// foreign key to it, so the timed loads below check every row as the real load will.
    /// </summary>
    private async Task ReferenceSampleAsync(
        NpgsqlConnection source, NpgsqlConnection target, SampleLoad sample, long rows, IReadOnlyList<string[]> foreignKeys, CancellationToken cancellationToken)
    {
        await TimeCopyAsync(source, target, sample, rows, cancellationToken).ConfigureAwait(false);
        for (var i = 0; i < foreignKeys.Count; i++)
        {
            var parent = $"confiture_plan_parent_{i.ToString(CultureInfo.InvariantCulture)}";
            var columns = SqlText.IdentifierList(foreignKeys[i]);
            var present = string.Join(" AND ", foreignKeys[i].Select(c => $"{SqlText.Identifier(c)} IS NOT NULL"));
            await ExecuteAsync(target, $"CREATE TEMP TABLE {parent} ON COMMIT DROP AS SELECT DISTINCT {columns} FROM {QualifiedSample} WHERE {present}", cancellationToken).ConfigureAwait(false);
            await ExecuteAsync(target, $"ALTER TABLE pg_temp.{parent} ADD UNIQUE ({columns})", cancellationToken).ConfigureAwait(false);
            await ExecuteAsync(target, $"ALTER TABLE {QualifiedSample} ADD FOREIGN KEY ({columns}) REFERENCES pg_temp.{parent} ({columns}) NOT VALID", cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Every load ends with an ANALYZE, which reads a sample of 300 rows per unit of the statistics
    /// target (30,000 by default) whatever the table's size: timed on the rows the last sample left
    /// in the sample table, and scaled up where they are fewer than the table's ANALYZE will read.
    /// </summary>
    private static async Task<double> TimeAnalyzeAsync(NpgsqlConnection target, long rows, long tableRows, CancellationToken cancellationToken)
    {
        var statisticsRows = 300L * await SqlExecutor.ScalarAsync<int>(target, "SELECT current_setting('default_statistics_target')::int", cancellationToken).ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        await ExecuteAsync(target, $"ANALYZE {QualifiedSample}", cancellationToken).ConfigureAwait(false);
        var seconds = clock.Elapsed.TotalSeconds;
        var read = Math.Min(tableRows, statisticsRows);
        return rows > 0 && read > rows ? seconds * read / rows : seconds;
    }

    /// <summary>The average bytes of row data (as pg_stats counts them) of the rows the samples take.</summary>
    private static async Task<double> SampleWidthAsync(NpgsqlConnection source, MigrationPlan plan, long rows, CancellationToken cancellationToken)
    {
        var sum = string.Join(" + ", plan.Columns.Select(c => $"coalesce(pg_column_size({SqlText.Identifier(c.Source.Name)}), 0)"));
        return await SqlExecutor.ScalarAsync<double>(source,
            $"SELECT coalesce(avg({sum}), 0)::float8 FROM (SELECT * FROM {plan.QualifiedSource} LIMIT {rows.ToString(CultureInfo.InvariantCulture)}) s",
            cancellationToken).ConfigureAwait(false);
    }

    private async Task<(long Rows, double Seconds)> TimeCopyAsync(
        NpgsqlConnection source, NpgsqlConnection target, SampleLoad sample, long rows, CancellationToken cancellationToken)
    {
        await ExecuteAsync(target, $"TRUNCATE {QualifiedSample}", cancellationToken).ConfigureAwait(false);
        var plan = sample.Plan;
        var format = plan.Binary ? "binary" : "text";
        var export = $"COPY ({plan.SourceSelect()}{sample.OrderBy(plan.QualifiedSource)} LIMIT {rows.ToString(CultureInfo.InvariantCulture)}) TO STDOUT (FORMAT {format})";
        // Timed as a load runs it: the read snapshot, the settings on both sessions, the stream.
        var clock = Stopwatch.StartNew();
        await using (await ReadSnapshot.BeginAsync(source, NullObserver.Instance, cancellationToken).ConfigureAwait(false))
        {
            var moved = await migrator.CopyPartAsync(source, target, plan, export, plan.ImportSql(freeze: false), _ => { }, cancellationToken).ConfigureAwait(false);
            return (moved, clock.Elapsed.TotalSeconds);
        }
    }

    private async Task<(long Rows, double Seconds)> TimeFdwAsync(NpgsqlConnection target, SampleLoad sample, long rows, CancellationToken cancellationToken)
    {
        await ExecuteAsync(target, $"TRUNCATE {QualifiedSample}", cancellationToken).ConfigureAwait(false);
        var plan = sample.Plan;
        var clock = Stopwatch.StartNew();
        await plan.Settings.ApplyAsync(target, NullObserver.Instance, cancellationToken).ConfigureAwait(false);
        var order = sample.OrderBy(SqlText.Qualified(foreignSchema, plan.Request.SourceTable));
        var moved = await SqlExecutor.ExecuteAsync(target,
            SqlStatement.Plain($"{plan.InsertSql(foreignSchema)}{order} LIMIT {rows.ToString(CultureInfo.InvariantCulture)}"), NullObserver.Instance, cancellationToken).ConfigureAwait(false);
        return (moved, clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// The order that makes "the first rows" the same rows in every sample: a LIMIT alone reads
    /// wherever a synchronized scan starts (after the previous sample's rows, on a large table), so
    /// the rows of the Fdw sample would not be those whose keys the parents' copies hold, and each
    /// sample would time other rows. The source's primary key gives an index order both paths read;
    /// a table without one keeps the heap's, with synchronized scans off on this connection.
    /// </summary>
    private static async Task<string[]> FirstRowsOrderAsync(NpgsqlConnection source, MigrationPlan plan, CancellationToken cancellationToken)
    {
        await ExecuteAsync(source, "SET synchronize_seqscans = off", cancellationToken).ConfigureAwait(false);
        var key = await SqlExecutor.ListAsync(source,
            """
            SELECT a.attname FROM pg_index i
            JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) ON true
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
            WHERE i.indrelid = to_regclass($1) AND i.indisprimary ORDER BY k.n
            """,
            r => r.GetString(0), cancellationToken, plan.QualifiedSource).ConfigureAwait(false);
        return [.. key];
    }

    /// <summary>A sample's plan (into the temporary table) and the source key that orders its rows.</summary>
    private sealed record SampleLoad(MigrationPlan Plan, string[] Key)
    {
        /// <summary>ORDER BY the key, qualified by the relation read (an output column of the same name would win otherwise).</summary>
        public string OrderBy(string relation) =>
            Key.Length == 0 ? string.Empty : " ORDER BY " + string.Join(", ", Key.Select(k => $"{relation}.{SqlText.Identifier(k)}"));
    }

    private static Task<int> ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken) =>
        SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain(sql), NullObserver.Instance, cancellationToken);
}
