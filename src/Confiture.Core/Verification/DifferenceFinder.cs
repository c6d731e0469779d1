using System.Globalization;

namespace Confiture.Core.Verification;

/// <summary>
/// Narrows a digest mismatch down to rows: digests per key range on both servers (as many ranges as
/// reach row-comparison size in one pass, up to tens of thousands in one GROUP BY), then again
/// inside only the ranges that differ, until ranges are small enough to compare row by row, all of a
/// level's small ranges in one query per side. Only hashes cross the network. Keys that are not a
/// single integer are bucketed by a hash of the key instead.
/// </summary>
internal sealed class DifferenceFinder(DigestSide source, DigestSide target, bool integerKey, int maxDifferences)
{
    /// <summary>A set of small ranges that differ: its condition on each side and the rows that differ in it.</summary>
    public sealed record Leaf(string SourceWhere, string TargetWhere, IReadOnlyList<RowDifference> Rows);

    /// <summary>Ranges per level at most: a GROUP BY of that many groups still costs about one scan.</summary>
    private const int MaxFanout = 65_536;

    /// <summary>Keys per range compared row by row: small, so scattered changes fetch few rows.</summary>
    private const long LeafSize = 256;

    /// <summary>Ranges named in one row-comparison query.</summary>
    private const int RangesPerQuery = 10_000;

    private const int HashBuckets = 4096;

    private readonly List<RowDifference> _found = [];
    private readonly List<Leaf> _leaves = [];

    /// <summary>The differing rows, at most the number asked for.</summary>
    public async Task<IReadOnlyList<RowDifference>> FindAsync(CancellationToken cancellationToken)
    {
        await SearchAsync(cancellationToken).ConfigureAwait(false);
        return _found;
    }

    /// <summary>Every differing range with its rows (the limit does not apply): what a sync replaces.</summary>
    public async Task<IReadOnlyList<Leaf>> FindLeavesAsync(CancellationToken cancellationToken)
    {
        await SearchAsync(cancellationToken).ConfigureAwait(false);
        return _leaves;
    }

    /// <summary>How many ranges (or buckets) had their digests compared.</summary>
    public int RangesCompared { get; private set; }

    private async Task SearchAsync(CancellationToken cancellationToken)
    {
        if (integerKey)
        {
            var (sourceMin, sourceMax) = await source.KeyRangeAsync(cancellationToken).ConfigureAwait(false);
            var (targetMin, targetMax) = await target.KeyRangeAsync(cancellationToken).ConfigureAwait(false);
            long?[] lows = [sourceMin, targetMin];
            long?[] highs = [sourceMax, targetMax];
            if (lows.Any(l => l is not null))
            {
                await NarrowAsync(lows.Where(l => l is not null).Min()!.Value, highs.Where(h => h is not null).Max()!.Value + 1, cancellationToken).ConfigureAwait(false);
            }
        }
        else
        {
            var bucket = $"(hashtext(({source.KeyExpression})::text) & {HashBuckets - 1})::bigint";
            var targetBucket = $"(hashtext(({target.KeyExpression})::text) & {HashBuckets - 1})::bigint";
            var differing = await DifferingBucketsAsync(bucket, targetBucket, null, cancellationToken).ConfigureAwait(false);
            await CompareBucketsAsync(differing, bucket, targetBucket, null, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task NarrowAsync(long low, long high, CancellationToken cancellationToken)
    {
        if (_found.Count >= maxDifferences)
        {
            return;
        }

        var range = Range(source.KeyExpression, low, high);
        var targetRange = Range(target.KeyExpression, low, high);
        if (high - low <= LeafSize)
        {
            await CompareRowsAsync(range, targetRange, cancellationToken).ConfigureAwait(false);
            return;
        }

        // As many ranges as it takes to reach leaf size in one level, so a table is read about once.
        var fanout = (int)Math.Clamp(Math.Ceiling((high - low) / (double)LeafSize), 2, MaxFanout);
        var width = (long)Math.Ceiling((high - low) / (double)fanout);
        // Integer arithmetic where the range allows it: numeric costs more per row.
        var small = low > -(1L << 60) && high < (1L << 60);
        string Bucket(string key) => small
            ? $"(({key})::bigint - {Number(low)}) / {Number(width)}"
            : $"floor(({key}::numeric - {Number(low)}) / {Number(width)})::bigint";
        var differing = await DifferingBucketsAsync(Bucket(source.KeyExpression), Bucket(target.KeyExpression), (range, targetRange), cancellationToken).ConfigureAwait(false);
        if (width <= LeafSize)
        {
            await CompareBucketsAsync(differing, Bucket(source.KeyExpression), Bucket(target.KeyExpression), (range, targetRange), cancellationToken).ConfigureAwait(false);
            return;
        }

        foreach (var b in differing.Order())
        {
            var start = low + (b * width);
            await NarrowAsync(start, Math.Min(high, start + width), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Compares the rows of many small buckets at once: one query per side per chunk of buckets.</summary>
    private async Task CompareBucketsAsync(
        IEnumerable<long> buckets, string sourceBucket, string targetBucket, (string Source, string Target)? within, CancellationToken cancellationToken)
    {
        foreach (var chunk in buckets.Order().Chunk(RangesPerQuery))
        {
            if (_found.Count >= maxDifferences)
            {
                return;
            }

            // The bucket numbers are numbers this code printed; the statement takes no parameters.
            var list = $"'{{{string.Join(",", chunk.Select(Number))}}}'::bigint[]";
            var sourceWhere = (within is null ? string.Empty : within.Value.Source + " AND ") + $"{sourceBucket} = ANY ({list})";
            var targetWhere = (within is null ? string.Empty : within.Value.Target + " AND ") + $"{targetBucket} = ANY ({list})";
            await CompareRowsAsync(sourceWhere, targetWhere, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<IEnumerable<long>> DifferingBucketsAsync(string sourceBucket, string targetBucket, (string Source, string Target)? where, CancellationToken cancellationToken)
    {
        var sourceBuckets = source.BucketsAsync(sourceBucket, where?.Source, cancellationToken);
        var targetBuckets = target.BucketsAsync(targetBucket, where?.Target, cancellationToken);
        var (left, right) = (await sourceBuckets.ConfigureAwait(false), await targetBuckets.ConfigureAwait(false));
        var all = left.Keys.Union(right.Keys).ToList();
        RangesCompared += all.Count;
        return all.Where(b => !left.TryGetValue(b, out var l) || !right.TryGetValue(b, out var r) || l != r).ToList();
    }

    private async Task CompareRowsAsync(string sourceWhere, string targetWhere, CancellationToken cancellationToken)
    {
        var sourceFetch = source.RowsAsync(sourceWhere, cancellationToken);
        var targetFetch = target.RowsAsync(targetWhere, cancellationToken);
        var sourceRows = (await sourceFetch.ConfigureAwait(false)).ToDictionary(r => r.Key, r => r.Hash, StringComparer.Ordinal);
        var targetRows = await targetFetch.ConfigureAwait(false);
        var differences = new List<RowDifference>();
        foreach (var (key, hash) in targetRows)
        {
            if (!sourceRows.Remove(key, out var sourceHash))
            {
                differences.Add(new RowDifference(key, DifferenceKind.Extra));
            }
            else if (sourceHash != hash)
            {
                differences.Add(new RowDifference(key, DifferenceKind.Changed));
            }
        }

        differences.AddRange(sourceRows.Keys.Select(key => new RowDifference(key, DifferenceKind.Missing)));
        _found.AddRange(differences.Take(Math.Max(0, maxDifferences - _found.Count)));
        if (differences.Count > 0)
        {
            _leaves.Add(new Leaf(sourceWhere, targetWhere, differences));
        }
    }

    private static string Range(string key, long low, long high) => $"{key} >= {Number(low)} AND {key} < {Number(high)}";

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);
}
