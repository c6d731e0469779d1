using System.Globalization;

namespace Confiture.Core.Verification;

/// <summary>
/// Narrows a digest mismatch down to rows: digests per key range on both servers (as many ranges as
/// reach row-comparison size in one pass, up to tens of thousands in one GROUP BY), then again
/// inside only the ranges that differ, until ranges are small enough to compare row by row, all of a
/// level's small ranges in one query per side. Only hashes cross the network. Keys that are not a
/// single integer are bucketed by a hash of the key instead. The first level reads both whole
/// tables and reports it block by block; the narrowing below it, range by range.
/// </summary>
internal sealed class DifferenceFinder(DigestSide source, DigestSide target, bool integerKey, int maxDifferences, PhaseProgress? progress = null)
{
    private readonly PhaseProgress _progress = progress ?? PhaseProgress.None;

    /// <summary>A set of small key ranges (or hash buckets) whose digests differ, as a condition on each side, and how many ranges it holds: what a sync rewrites.</summary>
    public sealed record DifferingRanges(string SourceWhere, string TargetWhere, int Ranges);

    /// <summary>Ranges per level at most: a GROUP BY of that many groups still costs about one scan.</summary>
    private const int MaxFanout = 65_536;

    /// <summary>Keys per range compared row by row: small, so scattered changes fetch few rows.</summary>
    private const long LeafSize = 256;

    /// <summary>Ranges named in one row-comparison query.</summary>
    private const int RangesPerQuery = 10_000;

    private const int HashBuckets = 4096;

    private readonly List<RowDifference> _found = [];
    private readonly List<DifferingRanges> _ranges = [];

    /// <summary>Rows are compared only when they are to be named; a sync needs only where they are.</summary>
    private bool _rangesOnly;

    /// <summary>The differing rows, at most the number asked for.</summary>
    public async Task<IReadOnlyList<RowDifference>> FindAsync(CancellationToken cancellationToken)
    {
        await SearchAsync(cancellationToken).ConfigureAwait(false);
        return _found;
    }

    /// <summary>
    /// Every set of smallest ranges whose digests differ (the limit does not apply). No row is
    /// fetched: the list grows with the number of differing ranges of up to 256 keys, not with rows.
    /// </summary>
    public async Task<IReadOnlyList<DifferingRanges>> FindRangesAsync(CancellationToken cancellationToken)
    {
        _rangesOnly = true;
        await SearchAsync(cancellationToken).ConfigureAwait(false);
        return _ranges;
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
                // Int128: the end past a bigint key of 9223372036854775807, and the width of a range
                // from the smallest bigint to the largest, do not fit in a long.
                Int128 low = lows.Where(l => l is not null).Min()!.Value;
                Int128 high = highs.Where(h => h is not null).Max()!.Value;
                await NarrowAsync(low, high + 1, cancellationToken, top: true).ConfigureAwait(false);
            }
        }
        else
        {
            var bucket = $"(hashtext(({source.KeyExpression})::text) & {HashBuckets - 1})::bigint";
            var targetBucket = $"(hashtext(({target.KeyExpression})::text) & {HashBuckets - 1})::bigint";
            var differing = await DifferingBucketsAsync(bucket, targetBucket, null, cancellationToken, top: true).ConfigureAwait(false);
            await CompareBucketsAsync(differing, bucket, targetBucket, null, cancellationToken, top: true).ConfigureAwait(false);
        }
    }

    /// <summary>Searches the keys from <paramref name="low"/> up to, not including, <paramref name="high"/>; <paramref name="top"/> for the whole key span.</summary>
    private async Task NarrowAsync(Int128 low, Int128 high, CancellationToken cancellationToken, bool top = false)
    {
        if (_found.Count >= maxDifferences)
        {
            return;
        }

        var range = Range(source.KeyExpression, low, high);
        var targetRange = Range(target.KeyExpression, low, high);
        var span = high - low;
        if (span <= LeafSize)
        {
            await CompareRowsAsync(range, targetRange, 1, cancellationToken).ConfigureAwait(false);
            return;
        }

        // As many ranges as it takes to reach leaf size in one level, so a table is read about once.
        var fanout = (int)Int128.Clamp((span + LeafSize - 1) / LeafSize, 2, MaxFanout);
        var width = (span + fanout - 1) / fanout;
        // Integer arithmetic where the range allows it: numeric costs more per row, but a bigint
        // difference of keys far apart overflows. div(), not a division: numeric division rounds
        // to some digits, which puts the last key of a wide range in a bucket past the end.
        var small = low > -(Int128.One << 60) && high < (Int128.One << 60);
        string Bucket(string key) => small
            ? $"(({key})::bigint - {Number(low)}) / {Number(width)}"
            : $"div(({key})::numeric - {Number(low)}, {Number(width)})::bigint";
        var differing = await DifferingBucketsAsync(Bucket(source.KeyExpression), Bucket(target.KeyExpression), (range, targetRange), cancellationToken, top)
            .ConfigureAwait(false);
        if (width <= LeafSize)
        {
            await CompareBucketsAsync(differing, Bucket(source.KeyExpression), Bucket(target.KeyExpression), (range, targetRange), cancellationToken, top).ConfigureAwait(false);
            return;
        }

        var ranges = differing.Order().ToList();
        if (top)
        {
            _progress.Begin($"Narrowing {ranges.Count:N0} key ranges", ranges.Count, "key ranges");
        }

        foreach (var b in ranges)
        {
            var start = low + (b * width);
            await NarrowAsync(start, Int128.Min(high, start + width), cancellationToken).ConfigureAwait(false);
            if (top)
            {
                _progress.Advance(1, 0);
            }
        }
    }

    /// <summary>Compares the rows of many small buckets at once: one query per side per chunk of buckets; <paramref name="top"/> reports them.</summary>
    private async Task CompareBucketsAsync(
        IEnumerable<long> buckets, string sourceBucket, string targetBucket, (string Source, string Target)? within, CancellationToken cancellationToken, bool top = false)
    {
        var all = buckets.Order().ToList();
        // Only a comparison of rows costs time here; a sync just notes where the ranges are.
        var report = top && !_rangesOnly;
        if (report)
        {
            _progress.Begin($"Comparing the rows of {all.Count:N0} key ranges", all.Count, "key ranges");
        }

        foreach (var chunk in all.Chunk(RangesPerQuery))
        {
            if (_found.Count >= maxDifferences)
            {
                return;
            }

            // The bucket numbers are numbers this code printed; the statement takes no parameters.
            var list = $"'{{{string.Join(",", chunk.Select(b => Number(b)))}}}'::bigint[]";
            var sourceWhere = (within is null ? string.Empty : within.Value.Source + " AND ") + $"{sourceBucket} = ANY ({list})";
            var targetWhere = (within is null ? string.Empty : within.Value.Target + " AND ") + $"{targetBucket} = ANY ({list})";
            await CompareRowsAsync(sourceWhere, targetWhere, chunk.Length, cancellationToken).ConfigureAwait(false);
            if (report)
            {
                _progress.Advance(chunk.Length, 0);
            }
        }
    }

    /// <summary>The buckets whose counts or digests differ; <paramref name="top"/> (a pass over both whole tables) goes part by part and reports.</summary>
    private async Task<IEnumerable<long>> DifferingBucketsAsync(
        string sourceBucket, string targetBucket, (string Source, string Target)? where, CancellationToken cancellationToken, bool top = false)
    {
        if (top)
        {
            _progress.Begin("Hashing key ranges of both tables", await TableVerifier.BothBlocksAsync(source, target, cancellationToken).ConfigureAwait(false), "blocks");
        }

        var sourceBuckets = top ? source.WholeBucketsAsync(sourceBucket, where?.Source, _progress, cancellationToken) : source.BucketsAsync(sourceBucket, where?.Source, cancellationToken);
        var targetBuckets = top ? target.WholeBucketsAsync(targetBucket, where?.Target, _progress, cancellationToken) : target.BucketsAsync(targetBucket, where?.Target, cancellationToken);
        // Both queries end before a failure unwinds: a side disposed under a running query would wait on it.
        await Task.WhenAll(sourceBuckets, targetBuckets).ConfigureAwait(false);
        var (left, right) = (await sourceBuckets.ConfigureAwait(false), await targetBuckets.ConfigureAwait(false));
        var all = left.Keys.Union(right.Keys).ToList();
        RangesCompared += all.Count;
        return all.Where(b => !left.TryGetValue(b, out var l) || !right.TryGetValue(b, out var r) || l != r).ToList();
    }

    private async Task CompareRowsAsync(string sourceWhere, string targetWhere, int ranges, CancellationToken cancellationToken)
    {
        if (_rangesOnly)
        {
            _ranges.Add(new DifferingRanges(sourceWhere, targetWhere, ranges));
            return;
        }

        var sourceFetch = source.RowsAsync(sourceWhere, cancellationToken);
        var targetFetch = target.RowsAsync(targetWhere, cancellationToken);
        await Task.WhenAll(sourceFetch, targetFetch).ConfigureAwait(false);
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
    }

    /// <summary>
    /// Both ends inclusive, so each is a value of the key's own type (the end past the largest
    /// bigint is not one) and the comparison stays on the key's index.
    /// </summary>
    private static string Range(string key, Int128 low, Int128 high) => $"{key} >= {Number(low)} AND {key} <= {Number(high - 1)}";

    private static string Number(Int128 value) => value.ToString(CultureInfo.InvariantCulture);
}
