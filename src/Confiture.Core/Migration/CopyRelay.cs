using System.Buffers;
using System.Diagnostics;
using System.Threading.Channels;
using Npgsql;

namespace Confiture.Core.Migration;

/// <summary>
/// Passes a COPY stream from the source connection to the target connection untouched. A reader
/// fills large pooled buffers while a writer sends the previous ones, so source and target I/O
/// overlap, and a small bounded queue keeps memory flat whatever the table's size.
/// </summary>
internal static class CopyRelay
{
    private const int BufferSize = 256 * 1024;
    private const int BuffersInFlight = 4;
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(500);

    public static async Task<long> RunAsync(
        NpgsqlRawCopyStream from,
        NpgsqlRawCopyStream to,
        CopyRowCounter counter,
        Action<long, TimeSpan> progress,
        CancellationToken cancellationToken)
    {
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var queue = Channel.CreateBounded<(byte[] Buffer, int Count)>(new BoundedChannelOptions(BuffersInFlight)
        {
            SingleReader = true,
            SingleWriter = true,
        });
        var writer = Task.Run(async () =>
        {
            try
            {
                await WriteAsync(queue.Reader, to, failed.Token).ConfigureAwait(false);
            }
            catch
            {
                // The reader may be waiting for room in the queue: release it.
                await failed.CancelAsync().ConfigureAwait(false);
                throw;
            }
        }, CancellationToken.None);

        try
        {
            // The source hands over one row per read: synchronous reads on a thread of their own cost
            // a third of what awaiting each one did (CPU of the whole load, narrow bench table), and
            // cancelling the stream ends a read that waits for the source.
            var token = failed.Token;
            await using (token.Register(() => from.Cancel()))
            {
                await Task.Factory.StartNew(() =>
                    {
                        try
                        {
                            Read(from, queue.Writer, counter, progress, token);
                        }
                        catch (Exception ex) when (token.IsCancellationRequested && ex is not OperationCanceledException)
                        {
                            // The cancelled stream fails its read with the server's "canceling statement": what happened is the cancellation.
                            throw new OperationCanceledException("The copy was cancelled.", ex, token);
                        }
                    },
                    CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
            }
        }
        catch (Exception readFailure)
        {
            await failed.CancelAsync().ConfigureAwait(false);
            queue.Writer.TryComplete();
            var writeFailure = await FailureOfAsync(writer).ConfigureAwait(false);
            if (readFailure is OperationCanceledException && writeFailure is not null and not OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                // The reader only stopped because the target failed: that failure is the news.
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(writeFailure).Throw();
            }

            throw;
        }

        await writer.ConfigureAwait(false);
        return counter.Rows;
    }

    private static async Task<Exception?> FailureOfAsync(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
            return null;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return ex;
        }
    }

    private static void Read(
        NpgsqlRawCopyStream from,
        ChannelWriter<(byte[] Buffer, int Count)> queue,
        CopyRowCounter counter,
        Action<long, TimeSpan> progress,
        CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var lastReport = TimeSpan.Zero;
        var ended = false;
        while (!ended)
        {
            var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
            var count = 0;
            try
            {
                // The raw stream hands back about one row per read: gather many before each write.
                while (count < buffer.Length - 8192)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var read = from.Read(buffer, count, buffer.Length - count);
                    if (read == 0)
                    {
                        ended = true;
                        break;
                    }

                    count += read;
                }

                counter.Feed(buffer.AsSpan(0, count));
                if (count > 0)
                {
                    // This thread is the reader's own: waiting here for room in the queue blocks nobody else.
                    var written = queue.WriteAsync((buffer, count), cancellationToken);
                    if (!written.IsCompletedSuccessfully)
                    {
                        written.AsTask().GetAwaiter().GetResult();
                    }
                }
                else
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
            catch
            {
                ArrayPool<byte>.Shared.Return(buffer);
                throw;
            }

            if (clock.Elapsed - lastReport >= ProgressInterval)
            {
                lastReport = clock.Elapsed;
                progress(counter.Rows, lastReport);
            }
        }

        queue.Complete();
    }

    private static async Task WriteAsync(ChannelReader<(byte[] Buffer, int Count)> queue, NpgsqlRawCopyStream to, CancellationToken cancellationToken)
    {
        await foreach (var (buffer, count) in queue.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            try
            {
                await to.WriteAsync(buffer.AsMemory(0, count), cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>
    /// The text-format relay, for the rare tables whose types cannot cross in binary. It runs one
    /// chunk at a time; the binary relay is the fast path.
    /// </summary>
    public static async Task<long> RunTextAsync(
        TextReader from,
        TextWriter to,
        CopyRowCounter counter,
        Action<long, TimeSpan> progress,
        CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var lastReport = TimeSpan.Zero;
        var chars = ArrayPool<char>.Shared.Rent(BufferSize / 2);
        try
        {
            int read;
            while ((read = await from.ReadAsync(chars.AsMemory(), cancellationToken).ConfigureAwait(false)) > 0)
            {
                counter.FeedText(chars.AsSpan(0, read));
                await to.WriteAsync(chars.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                if (clock.Elapsed - lastReport >= ProgressInterval)
                {
                    lastReport = clock.Elapsed;
                    progress(counter.Rows, lastReport);
                }
            }
        }
        finally
        {
            ArrayPool<char>.Shared.Return(chars);
        }

        return counter.Rows;
    }
}
