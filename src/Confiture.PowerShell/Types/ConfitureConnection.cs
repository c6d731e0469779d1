using Confiture.Core.Connections;

namespace Confiture.PowerShell.Types;

/// <summary>
/// A checked connection to one database, as <c>Connect-ConfitureDatabase</c> returns it. It holds a
/// connection pool; no property and no <see cref="ToString"/> ever shows the password.
/// </summary>
public sealed class ConfitureConnection
{
    internal ConfitureConnection(DatabaseEndpoint endpoint, ServerDescription description, string? name)
    {
        Endpoint = endpoint;
        Name = string.IsNullOrEmpty(name) ? endpoint.ToString() : name;
        Host = endpoint.Host;
        Port = endpoint.Port;
        Database = description.Database;
        User = description.User;
        IsSuperuser = description.IsSuperuser;
        ServerVersion = description.ServerVersion;
        SslMode = endpoint.SslMode;
    }

    /// <summary>The label given with -Name, or user@host:port/database.</summary>
    public string Name { get; }

    /// <summary>The server's host name or address.</summary>
    public string Host { get; }

    /// <summary>The server's port.</summary>
    public int Port { get; }

    /// <summary>The database.</summary>
    public string Database { get; }

    /// <summary>The user the server sees.</summary>
    public string User { get; }

    /// <summary>Whether that user is a superuser.</summary>
    public bool IsSuperuser { get; }

    /// <summary>The server's PostgreSQL version.</summary>
    public string ServerVersion { get; }

    /// <summary>The TLS mode asked for (libpq's word).</summary>
    public string SslMode { get; }

    internal DatabaseEndpoint Endpoint { get; }

    /// <inheritdoc />
    public override string ToString() => $"{User}@{Host}:{Port}/{Database}";
}
