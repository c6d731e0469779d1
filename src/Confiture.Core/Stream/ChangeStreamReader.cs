using System.Text;
using System.Threading.Channels;
using Confiture.Core.Connections;
using Confiture.Core.Sql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;
using NpgsqlTypes;

namespace Confiture.Core.Stream;

/// <summary>
/// Reads the slot over the replication protocol into a bounded queue of plain items, so decoding
/// and applying overlap while memory stays bounded. The WAL sender prints values in text under the
/// conversion settings (the target's TimeZone, DateStyle and IntervalStyle, exact floats, hex
/// bytea): the text the target then reads is exactly what the copy's conversion would see.
/// </summary>
internal sealed class ChangeStreamReader : IAsyncDisposable
{
    private readonly LogicalReplicationConnection _connection;
    private readonly CancellationTokenSource _stop = new();
    private readonly Channel<StreamItem> _items = Channel.CreateBounded<StreamItem>(new BoundedChannelOptions(20_000) { SingleReader = true, SingleWriter = true });
    private Task? _reading;

    private ChangeStreamReader(LogicalReplicationConnection connection) => _connection = connection;

    public ChannelReader<StreamItem> Items => _items.Reader;

    public static async Task<ChangeStreamReader> StartAsync(
        DatabaseEndpoint source, ConversionSettings settings, string slot, string publication, NpgsqlLogSequenceNumber from, CancellationToken cancellationToken)
    {
        var options = $"-c TimeZone={Escape(settings.TimeZone)} -c DateStyle={Escape(settings.DateStyle)} -c IntervalStyle={Escape(settings.IntervalStyle)} "
            + "-c extra_float_digits=3 -c bytea_output=hex";
        var connection = new LogicalReplicationConnection(source.ReplicationConnectionString(options));
        try
        {
            await connection.Open(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        var reader = new ChangeStreamReader(connection);
        var messages = connection.StartReplication(new PgOutputReplicationSlot(slot),
            new PgOutputReplicationOptions(publication, PgOutputProtocolVersion.V1, binary: false, messages: true), reader._stop.Token, from);
        reader._reading = Task.Run(() => reader.ReadAsync(messages), CancellationToken.None);
        return reader;
    }

    /// <summary>Tells the slot the target holds everything up to here: the source may recycle the WAL before it.</summary>
    public async Task ConfirmAsync(NpgsqlLogSequenceNumber applied, CancellationToken cancellationToken)
    {
        _connection.SetReplicationStatus(applied);
        await _connection.SendStatusUpdate(cancellationToken).ConfigureAwait(false);
    }

    private async Task ReadAsync(IAsyncEnumerable<PgOutputReplicationMessage> messages)
    {
        var token = _stop.Token;
        try
        {
            await foreach (var message in messages.ConfigureAwait(false))
            {
                StreamItem? item = message switch
                {
                    BeginMessage begin => new StreamItem.Begin(begin.TransactionFinalLsn, ToOffset(begin.TransactionCommitTimestamp)),
                    CommitMessage commit => new StreamItem.Commit(commit.TransactionEndLsn, ToOffset(commit.TransactionCommitTimestamp)),
                    RelationMessage relation => new StreamItem.Relation(relation.RelationId, relation.Namespace, relation.RelationName,
                        relation.ReplicaIdentity == RelationMessage.ReplicaIdentitySetting.AllColumns,
                        relation.Columns.Select(c => new RelationColumn(c.ColumnName, c.DataTypeId, c.TypeModifier,
                            (c.Flags & RelationMessage.Column.ColumnFlags.PartOfKey) != 0)).ToList()),
                    InsertMessage insert => await RowAsync(RowKind.Insert, insert.Relation.RelationId, null, insert.NewRow, token).ConfigureAwait(false),
                    IndexUpdateMessage update => await RowAsync(RowKind.Update, update.Relation.RelationId, update.Key, update.NewRow, token).ConfigureAwait(false),
                    FullUpdateMessage update => await RowAsync(RowKind.Update, update.Relation.RelationId, update.OldRow, update.NewRow, token).ConfigureAwait(false),
                    DefaultUpdateMessage update => await RowAsync(RowKind.Update, update.Relation.RelationId, null, update.NewRow, token).ConfigureAwait(false),
                    KeyDeleteMessage delete => await RowAsync(RowKind.Delete, delete.Relation.RelationId, delete.Key, null, token).ConfigureAwait(false),
                    FullDeleteMessage delete => await RowAsync(RowKind.Delete, delete.Relation.RelationId, delete.OldRow, null, token).ConfigureAwait(false),
                    TruncateMessage truncate => new StreamItem.Truncate(truncate.Relations.Select(r => r.RelationId).ToList()),
                    LogicalDecodingMessage note => new StreamItem.Message(note.Prefix, await ReadAllAsync(note.Data, token).ConfigureAwait(false)),
                    _ => null,
                };
                if (item is not null)
                {
                    await _items.Writer.WriteAsync(item, token).ConfigureAwait(false);
                }
            }

            _items.Writer.TryComplete();
        }
        catch (Exception ex)
        {
            _items.Writer.TryComplete(ex);
        }
    }

    private static async Task<StreamItem> RowAsync(RowKind kind, uint relation, ReplicationTuple? old, ReplicationTuple? current, CancellationToken token)
    {
        // The old tuple comes first on the wire, and each value must be read in order.
        var (oldValues, _) = old is null ? (null, null) : await ValuesAsync(old, token).ConfigureAwait(false);
        var (newValues, unchanged) = current is null ? (null, null) : await ValuesAsync(current, token).ConfigureAwait(false);
        return new StreamItem.Row(kind, relation, newValues, unchanged, oldValues);
    }

    private static async Task<(string?[], bool[])> ValuesAsync(ReplicationTuple tuple, CancellationToken token)
    {
        var values = new string?[tuple.NumColumns];
        var unchanged = new bool[tuple.NumColumns];
        var i = 0;
        await foreach (var value in tuple.WithCancellation(token).ConfigureAwait(false))
        {
            if (value.IsUnchangedToastedValue)
            {
                unchanged[i] = true;
            }
            else if (!value.IsDBNull)
            {
                using var text = value.GetTextReader();
                values[i] = await text.ReadToEndAsync(token).ConfigureAwait(false);
            }

            i++;
        }

        return (values, unchanged);
    }

    private static async Task<string> ReadAllAsync(System.IO.Stream data, CancellationToken token)
    {
        using var reader = new StreamReader(data, Encoding.UTF8, leaveOpen: true);
        return await reader.ReadToEndAsync(token).ConfigureAwait(false);
    }

    private static DateTimeOffset ToOffset(DateTime value) => new(DateTime.SpecifyKind(value, DateTimeKind.Utc));

    /// <summary>A startup option's value: spaces and backslashes escaped, as the server reads them.</summary>
    private static string Escape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace(" ", "\\ ", StringComparison.Ordinal);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_reading is not null)
        {
            try
            {
                await _reading.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }

        await _connection.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }
}
