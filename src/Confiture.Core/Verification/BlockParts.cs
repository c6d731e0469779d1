using System.Runtime.ExceptionServices;
using Confiture.Core.Connections;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Verification;

/// <summary>
/// A table's blocks in ranges, for a pass over the whole table that reports as it goes: at least
/// <see cref="MinPartBlocks"/> blocks a range, at most <see cref="MaxParts"/> ranges, each read by a
/// TID range scan (PostgreSQL 14+). Every visible row lies in one block, so in one range; the last
/// range is open-ended, for rows in blocks added since the size was read. A partitioned table's
/// ranges run over every partition at once (sized by the largest); a view, a foreign table or an
/// older server is read whole, as one range.
/// </summary>
/// <remarks>
/// A TID range scan has no parallel plan, where one query of a large table has workers: the ranges
/// are read by as many connections as the planner would give that query workers, plus the side's
/// own, all in the side's one snapshot, so reporting costs no speed.
/// </remarks>
internal sealed class BlockParts
{
    /// <summary>Blocks of a range at least: 256 kB, a few thousand narrow rows, so a table of tens of thousands reports several times.</summary>
    private const long MinPartBlocks = 32;

    /// <summary>Ranges of a table at most: a progress step of about one percent, and as many queries.</summary>
    private const long MaxParts = 100;

    private BlockParts(IReadOnlyList<BlockPart> parts, int readers)
    {
        Parts = parts;
        Readers = readers;
    }

    /// <summary>The ranges, in block order.</summary>
    public IReadOnlyList<BlockPart> Parts { get; }

    /// <summary>Connections that read the ranges at once (the side's own included).</summary>
    public int Readers { get; }

    /// <summary>Whether the table is read in one query (then <see cref="Parts"/> holds one range, with no condition).</summary>
    public bool IsOneRange => Parts.Count == 1;

    /// <summary>The blocks the ranges hold (0 when the server cannot tell).</summary>
    public long Blocks => Parts.Sum(p => p.Blocks);

    /// <summary>Reads the table's size and the server's parallel settings, in the side's transaction.</summary>
    public static async Task<BlockParts> ReadAsync(NpgsqlConnection connection, string table, CancellationToken cancellationToken)
    {
        var rows = await SqlExecutor.ListAsync(connection,
            """
            SELECT c.relkind::text,
                   CASE WHEN c.relkind = 'p'
                        THEN (SELECT coalesce(max(pg_relation_size(t.relid)), 0) FROM pg_partition_tree(c.oid) t WHERE t.isleaf)
                        ELSE pg_relation_size(c.oid) END / current_setting('block_size')::bigint,
                   current_setting('max_parallel_workers_per_gather')::int,
                   pg_size_bytes(current_setting('min_parallel_table_scan_size')) / current_setting('block_size')::bigint,
                   pg_is_in_recovery()
            FROM pg_class c WHERE c.oid = $1::regclass
            """,
            r => (Kind: r.GetString(0), Blocks: r.GetInt64(1), Workers: r.GetInt32(2), MinBlocks: r.GetInt64(3), Standby: r.GetBoolean(4)), cancellationToken, table)
            .ConfigureAwait(false);
        var (kind, blocks, workers, minBlocks, standby) = rows[0];
        var scannable = kind is "r" or "p" or "m";
        var size = Math.Max(MinPartBlocks, (blocks + MaxParts - 1) / MaxParts);
        if (!scannable || connection.PostgreSqlVersion.Major < 14 || blocks <= size)
        {
            return new BlockParts([new BlockPart(null, scannable ? blocks : 0)], 1);
        }

        var count = (blocks + size - 1) / size;
        var parts = new List<BlockPart>();
        for (var i = 0L; i < count; i++)
        {
            // Block numbers this code printed: the statement takes no parameters.
            var low = i == 0 ? null : $"ctid >= '({i * size},0)'::tid";
            var high = i == count - 1 ? null : $"ctid < '({(i + 1) * size},0)'::tid";
            parts.Add(new BlockPart(string.Join(" AND ", new[] { low, high }.OfType<string>()), Math.Min(size, blocks - (i * size))));
        }

        // A standby may not export its snapshot (and a failed export would end the side's transaction): one reader there.
        return new BlockParts(parts, standby ? 1 : 1 + (int)Math.Min(parts.Count - 1, PlannerWorkers(blocks, minBlocks, workers)));
    }

    /// <summary>
    /// The workers PostgreSQL's planner gives a scan of that many blocks: none below
    /// min_parallel_table_scan_size, one more each time the size triples, at most
    /// max_parallel_workers_per_gather (0 there: the DBA wants no parallel reads, and gets none).
    /// </summary>
    private static long PlannerWorkers(long blocks, long minBlocks, int maxWorkers)
    {
        if (maxWorkers <= 0 || blocks < Math.Max(1, minBlocks))
        {
            return 0;
        }

        var workers = 1L;
        for (var threshold = Math.Max(1, minBlocks) * 3; blocks >= threshold && workers < maxWorkers; threshold *= 3)
        {
            workers++;
        }

        return workers;
    }

    /// <summary>
    /// Reads every range with <paramref name="read"/>: on the side's connection and on helper
    /// connections that join its snapshot (read only, the same conversion settings), each taking
    /// the next range until none is left. A failure stops the other readers before it is thrown.
    /// </summary>
    public async Task ReadEachAsync(
        NpgsqlConnection own, DatabaseEndpoint endpoint, ConversionSettings settings, Func<NpgsqlConnection, BlockPart, CancellationToken, Task> read,
        CancellationToken cancellationToken)
    {
        var helpers = await HelpersAsync(own, endpoint, settings, cancellationToken).ConfigureAwait(false);
        try
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var next = -1;
            async Task ReaderAsync(NpgsqlConnection connection)
            {
                try
                {
                    for (int i; (i = Interlocked.Increment(ref next)) < Parts.Count;)
                    {
                        await read(connection, Parts[i], stop.Token).ConfigureAwait(false);
                    }
                }
                catch
                {
                    await stop.CancelAsync().ConfigureAwait(false);
                    throw;
                }
            }

            var readers = Task.WhenAll(helpers.Select(h => h.Connection).Prepend(own).Select(ReaderAsync).ToList());
            try
            {
                await readers.ConfigureAwait(false);
            }
            catch when (readers.Exception is { } failure && !cancellationToken.IsCancellationRequested)
            {
                // The readers stopped because one failed: that failure is the one to tell.
                ExceptionDispatchInfo.Capture(failure.InnerExceptions.FirstOrDefault(e => e is not OperationCanceledException) ?? failure.InnerExceptions[0]).Throw();
            }
        }
        finally
        {
            foreach (var (connection, transaction) in helpers)
            {
                await transaction.DisposeAsync().ConfigureAwait(false);
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task<List<(NpgsqlConnection Connection, NpgsqlTransaction Transaction)>> HelpersAsync(
        NpgsqlConnection own, DatabaseEndpoint endpoint, ConversionSettings settings, CancellationToken cancellationToken)
    {
        var helpers = new List<(NpgsqlConnection, NpgsqlTransaction)>();
        if (Readers <= 1)
        {
            return helpers;
        }

        try
        {
            var snapshot = await SqlExecutor.ScalarAsync<string>(own, "SELECT pg_export_snapshot()", cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException("pg_export_snapshot returned nothing.");
            for (var i = 1; i < Readers; i++)
            {
                var connection = await endpoint.OpenAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    var transaction = await ReadSnapshot.BeginAsync(connection, NullObserver.Instance, cancellationToken, snapshot).ConfigureAwait(false);
                    await settings.ApplyAsync(connection, NullObserver.Instance, cancellationToken).ConfigureAwait(false);
                    helpers.Add((connection, transaction));
                }
                catch
                {
                    await connection.DisposeAsync().ConfigureAwait(false);
                    throw;
                }
            }
        }
        catch (ConfitureException ex) when (ex.InnerException is PostgresException { SqlState: PostgresErrorCodes.TooManyConnections })
        {
            // A server (or role) at its connection limit still gets the pass, from fewer readers.
        }
        catch
        {
            foreach (var (connection, transaction) in helpers)
            {
                await transaction.DisposeAsync().ConfigureAwait(false);
                await connection.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }

        return helpers;
    }
}

/// <summary>A range of blocks: the condition that reads it (null: the whole table) and how many blocks it holds.</summary>
internal sealed record BlockPart(string? Where, long Blocks);
