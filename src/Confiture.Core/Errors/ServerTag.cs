using Npgsql;

namespace Confiture.Core.Errors;

/// <summary>
/// Marks a driver exception with the server whose connection raised it. Npgsql's exceptions do not
/// say which connection failed, and an operation holds connections to both servers, so the place
/// that ran the statement notes it for <see cref="ErrorTranslator"/>.
/// </summary>
internal static class ServerTag
{
    private const string Key = "Confiture.Server";

    /// <summary>Always false, so it can sit in an exception filter without catching anything.</summary>
    public static bool Mark(Exception exception, NpgsqlConnection connection)
    {
        if (exception is NpgsqlException && !exception.Data.Contains(Key))
        {
            exception.Data[Key] = Describe(connection);
        }

        return false;
    }

    /// <summary>
    /// For a failure in a stream between two connections (a COPY relay): the connection that broke
    /// is the server that went away. Always false, for an exception filter.
    /// </summary>
    public static bool MarkBroken(Exception exception, NpgsqlConnection first, NpgsqlConnection second)
    {
        var broken = new[] { first, second }.Where(c => c.FullState.HasFlag(System.Data.ConnectionState.Broken) || c.FullState == System.Data.ConnectionState.Closed).ToList();
        return broken.Count == 1 && Mark(exception, broken[0]);
    }

    /// <summary>The same text as <see cref="Connections.DatabaseEndpoint.ToString"/>, never the password.</summary>
    public static string Describe(NpgsqlConnection connection) =>
        $"{connection.UserName}@{connection.Host}:{connection.Port}/{connection.Database}";

    public static string? Of(Exception exception) => exception.Data[Key] as string;
}
