using System.Data;
using System.Globalization;
using System.Numerics;
using Confiture.Core.Connections;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Verification;

/// <summary>
/// One server's view of a table for content comparison: every row reduced to a 64-bit hash of its
/// mapped values' text, summed so order does not matter. Both sides run under the conversion
/// settings, and one REPEATABLE READ snapshot serves every query of a comparison. A scan of the
/// whole table goes part by part (<see cref="BlockParts"/>) so it can report as it goes; a sum of
/// the parts' sums is the table's, so the digest is the one a single query gives.
/// </summary>
internal sealed class DigestSide : IAsyncDisposable
{
    private readonly NpgsqlConnection _connection;
    private readonly NpgsqlTransaction _transaction;
    private readonly string _table;
    private readonly string _hash;
    private readonly string _key;
    private readonly DatabaseEndpoint _endpoint;
    private readonly ConversionSettings _settings;

    private DigestSide(NpgsqlConnection connection, NpgsqlTransaction transaction, string table, string hash, string key, DatabaseEndpoint endpoint, ConversionSettings settings)
    {
        _endpoint = endpoint;
        _settings = settings;
        _connection = connection;
        _transaction = transaction;
        _table = table;
        _hash = hash;
        _key = key;
    }

    /// <param name="endpoint">The server.</param>
    /// <param name="table">The quoted, qualified table.</param>
    /// <param name="values">The value expressions, in target column order, already cast to the target's types.</param>
    /// <param name="keys">The key expressions (the target's primary key), or empty.</param>
    /// <param name="settings">The conversion settings (the target's), the same on both sides.</param>
    /// <param name="cancellationToken">Stops the work.</param>
    /// <param name="writable">Keeps the transaction writable, for a sync that replaces what it finds different.</param>
    public static async Task<DigestSide> OpenAsync(
        DatabaseEndpoint endpoint, string table, IReadOnlyList<string> values, IReadOnlyList<string> keys, ConversionSettings settings,
        CancellationToken cancellationToken, bool writable = false)
    {
        var connection = await endpoint.OpenAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken).ConfigureAwait(false);
            if (!writable)
            {
                await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain("SET TRANSACTION READ ONLY"), NullObserver.Instance, cancellationToken).ConfigureAwait(false);
            }

            // The source side converts as the migration did, and both sides print values alike.
            await settings.ApplyAsync(connection, NullObserver.Instance, cancellationToken).ConfigureAwait(false);

            // hashtextextended (PostgreSQL 11+) is a 64-bit hash several times cheaper than md5 text;
            // the sum of bigint is numeric, so it cannot overflow.
            var hash = $"hashtextextended(ROW({string.Join(", ", values)})::text, 0)";
            var key = keys.Count == 1 ? keys[0] : $"ROW({string.Join(", ", keys)})";
            return new DigestSide(connection, transaction, table, hash, key, endpoint, settings);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The row count and the digest of the rows that match the condition.</summary>
    public Task<(long Count, string Digest)> DigestAsync(string? where, CancellationToken cancellationToken) =>
        DigestOnAsync(_connection, where, cancellationToken);

    /// <summary>The row count and the digest of the whole table, read part by part, each part's blocks and rows reported as it ends.</summary>
    public async Task<(long Count, string Digest)> WholeDigestAsync(PhaseProgress progress, CancellationToken cancellationToken)
    {
        var parts = await PartsAsync(cancellationToken).ConfigureAwait(false);
        if (parts.IsOneRange)
        {
            var whole = await DigestAsync(null, cancellationToken).ConfigureAwait(false);
            progress.Advance(parts.Blocks, whole.Count);
            return whole;
        }

        var gate = new object();
        var (count, sum) = (0L, BigInteger.Zero);
        await parts.ReadEachAsync(_connection, _endpoint, _settings, async (connection, part, token) =>
        {
            var (rows, digest) = await DigestOnAsync(connection, part.Where, token).ConfigureAwait(false);
            lock (gate)
            {
                (count, sum) = (count + rows, sum + Sum(digest));
            }

            progress.Advance(part.Blocks, rows);
        }, cancellationToken).ConfigureAwait(false);
        return (count, Text(sum));
    }

    /// <summary>Count and digest per bucket, for the rows that match the condition.</summary>
    public async Task<Dictionary<long, (long Count, string Digest)>> BucketsAsync(string bucket, string? where, CancellationToken cancellationToken)
    {
        var rows = await BucketRowsAsync(_connection, bucket, where, cancellationToken).ConfigureAwait(false);
        return rows.ToDictionary(r => r.Bucket, r => (r.Count, r.Digest));
    }

    /// <summary>Count and digest per bucket over the whole table (within the condition), read part by part, each part reported as it ends.</summary>
    public async Task<Dictionary<long, (long Count, string Digest)>> WholeBucketsAsync(string bucket, string? where, PhaseProgress progress, CancellationToken cancellationToken)
    {
        var parts = await PartsAsync(cancellationToken).ConfigureAwait(false);
        if (parts.IsOneRange)
        {
            var whole = await BucketsAsync(bucket, where, cancellationToken).ConfigureAwait(false);
            progress.Advance(parts.Blocks, whole.Values.Sum(b => b.Count));
            return whole;
        }

        var merged = new Dictionary<long, (long Count, BigInteger Sum)>();
        await parts.ReadEachAsync(_connection, _endpoint, _settings, async (connection, part, token) =>
        {
            var rows = await BucketRowsAsync(connection, bucket, where is null ? part.Where : $"({where}) AND {part.Where}", token).ConfigureAwait(false);
            lock (merged)
            {
                foreach (var (b, count, digest) in rows)
                {
                    var (sofar, sum) = merged.GetValueOrDefault(b);
                    merged[b] = (sofar + count, sum + Sum(digest));
                }
            }

            progress.Advance(part.Blocks, rows.Sum(r => r.Count));
        }, cancellationToken).ConfigureAwait(false);
        return merged.ToDictionary(m => m.Key, m => (m.Value.Count, Text(m.Value.Sum)));
    }

    private async Task<(long Count, string Digest)> DigestOnAsync(NpgsqlConnection connection, string? where, CancellationToken cancellationToken) =>
        (await SqlExecutor.ListAsync(connection,
            $"SELECT count(*), coalesce(sum({_hash}), 0)::text FROM {_table}{Where(where)}",
            r => (r.GetInt64(0), r.GetString(1)), cancellationToken).ConfigureAwait(false))[0];

    private async Task<List<(long Bucket, long Count, string Digest)>> BucketRowsAsync(NpgsqlConnection connection, string bucket, string? where, CancellationToken cancellationToken) =>
        await SqlExecutor.ListAsync(connection,
            $"SELECT b, count(*), sum(h)::text FROM (SELECT {bucket} AS b, {_hash} AS h FROM {_table}{Where(where)}) s GROUP BY b",
            r => (r.GetInt64(0), r.GetInt64(1), r.GetString(2)), cancellationToken).ConfigureAwait(false);

    /// <summary>The blocks a whole-table pass of this side reads, as its parts count them (0 when the server cannot tell).</summary>
    public async Task<long> BlocksAsync(CancellationToken cancellationToken) =>
        (await PartsAsync(cancellationToken).ConfigureAwait(false)).Blocks;

    private async Task<BlockParts> PartsAsync(CancellationToken cancellationToken) =>
        _parts ??= await BlockParts.ReadAsync(_connection, _table, cancellationToken).ConfigureAwait(false);

    /// <summary>A numeric sum as the server prints it (an integer: digits, a leading minus).</summary>
    private static BigInteger Sum(string digest) => BigInteger.Parse(digest, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);

    private static string Text(BigInteger sum) => sum.ToString(CultureInfo.InvariantCulture);

    private BlockParts? _parts;

    /// <summary>Each matching row's key (as text) and hash, in key order.</summary>
    public async Task<List<(string Key, long Hash)>> RowsAsync(string? where, CancellationToken cancellationToken) =>
        await SqlExecutor.ListAsync(_connection,
            $"SELECT ({_key})::text, {_hash} FROM {_table}{Where(where)} ORDER BY {_key}",
            r => (r.GetString(0), r.GetInt64(1)), cancellationToken).ConfigureAwait(false);

    /// <summary>The smallest and largest key, for a single integer key.</summary>
    public async Task<(long? Min, long? Max)> KeyRangeAsync(CancellationToken cancellationToken)
    {
        var rows = await SqlExecutor.ListAsync(_connection,
            $"SELECT min({_key})::bigint, max({_key})::bigint FROM {_table}",
            r => (r.IsDBNull(0) ? (long?)null : r.GetInt64(0), r.IsDBNull(1) ? (long?)null : r.GetInt64(1)), cancellationToken).ConfigureAwait(false);
        return rows[0];
    }

    public string KeyExpression => _key;

    /// <summary>The connection, inside the comparison's transaction.</summary>
    public NpgsqlConnection Connection => _connection;

    /// <summary>Commits what was written in the comparison's transaction.</summary>
    public Task CommitAsync(CancellationToken cancellationToken) => _transaction.CommitAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _transaction.DisposeAsync().ConfigureAwait(false);
        await _connection.DisposeAsync().ConfigureAwait(false);
    }

    private static string Where(string? condition) => condition is null ? string.Empty : " WHERE " + condition;
}
