<#
    What both benchmarks share: the servers from the environment (never printing a secret), psql and
    native commands, the pgpass file, pgcopydb, the report's small helpers and the machine description.
#>

Set-StrictMode -Version Latest

$script:Clock = [System.Diagnostics.Stopwatch]::StartNew()

function Write-BenchLog([string] $Message) {
    Write-Host ('[{0:HH:mm:ss} +{1:mm\:ss}] {2}' -f (Get-Date), $script:Clock.Elapsed, $Message)
}

function Set-EnvironmentVariable([string] $Name, [AllowNull()][string] $Value) {
    # PowerShell turns $null into '' for a .NET string argument, and an empty PGSERVICE is an error to libpq.
    if ([string]::IsNullOrEmpty($Value)) { Remove-Item "env:$Name" -ErrorAction Ignore } else { Set-Item "env:$Name" $Value }
}

function Get-Median([double[]] $Values) {
    $sorted = @($Values | Sort-Object)
    $middle = [int][math]::Floor($sorted.Count / 2)
    if ($sorted.Count % 2 -eq 1) { return $sorted[$middle] }
    return ($sorted[$middle - 1] + $sorted[$middle]) / 2
}

function Format-Number([double] $Value, [int] $Decimals = 0) {
    $Value.ToString("N$Decimals", [cultureinfo]::InvariantCulture)
}

function Invoke-Checked {
    <# Runs a native command, returns its output lines (stderr included), throws on a non-zero exit code. #>
    param([Parameter(Mandatory)][string] $Command, [string[]] $Arguments = @(), [string] $Description = $Command)
    $output = @(& $Command @Arguments 2>&1 | ForEach-Object { "$_" })
    if ($LASTEXITCODE -ne 0) {
        throw "$Description failed with exit code ${LASTEXITCODE}:$([Environment]::NewLine)$(($output | Select-Object -Last 30) -join [Environment]::NewLine)"
    }
    return $output
}

function Get-BenchServer([string] $Variable, [string] $Side, [string] $Database) {
    $value = [Environment]::GetEnvironmentVariable($Variable)
    if (-not $value) { throw "$Variable is not set: run the benchmark with 'build.ps1 Bench', or set it to a superuser connection string (keyword form)." }
    if ($value -match '^\s*postgres(ql)?://') { throw "$Variable must be a keyword connection string (Host=...;Port=...;Username=...;Password=...)." }
    # DbConnectionStringBuilder is an IDictionary: call the property accessors, not `.ConnectionString =`.
    $builder = [System.Data.Common.DbConnectionStringBuilder]::new()
    $builder.set_ConnectionString($value)
    $get = { param([string[]] $names) foreach ($n in $names) { if ($builder.ContainsKey($n)) { return [string]$builder[$n] } } }
    $sslMode = & $get @('SSL Mode', 'SslMode', 'sslmode')
    $hostName = & $get @('Host', 'Server')
    $port = & $get @('Port')
    [pscustomobject]@{
        Side     = $Side
        Host     = if ($hostName) { $hostName } else { 'localhost' }
        Port     = if ($port) { [int]$port } else { 5432 }
        Username = & $get @('Username', 'User Name', 'User Id', 'UserId', 'User')
        Password = & $get @('Password', 'Pwd')
        # libpq spells Npgsql's VerifyCA/VerifyFull as verify-ca/verify-full.
        SslMode  = if ($sslMode) { ($sslMode -replace '^verify-?', 'verify-').ToLowerInvariant() } else { $null }
        Database = $Database
    }
}

function Get-LibpqDsn($Server, [string] $Database = $Server.Database) {
    <# A libpq keyword string without the password (that comes from the pgpass file). #>
    $quote = { param([string] $v) "'" + ($v -replace '\\', '\\' -replace "'", "\'") + "'" }
    $parts = @("host=$(& $quote $Server.Host)", "port=$($Server.Port)", "dbname=$(& $quote $Database)")
    if ($Server.Username) { $parts += "user=$(& $quote $Server.Username)" }
    if ($Server.SslMode) { $parts += "sslmode=$($Server.SslMode)" }
    $parts -join ' '
}

function Get-PostgresUri($Server) {
    <# A postgres:// URI without the password, for pgcopydb. #>
    $hostPart = if ($Server.Host -match ':') { "[$($Server.Host)]" } else { $Server.Host }
    $user = if ($Server.Username) { [uri]::EscapeDataString($Server.Username) + '@' } else { '' }
    $uri = "postgres://$user${hostPart}:$($Server.Port)/$([uri]::EscapeDataString($Server.Database))"
    if ($Server.SslMode) { $uri += "?sslmode=$($Server.SslMode)" }
    $uri
}

function New-PgPassFile([string] $Directory, [object[]] $Servers) {
    $escape = { param([string] $v) $v -replace '\\', '\\' -replace ':', '\:' }
    $path = Join-Path $Directory 'pgpass'
    $lines = foreach ($server in $Servers) {
        if ($server.Password) { '{0}:{1}:*:{2}:{3}' -f (& $escape $server.Host), $server.Port, (& $escape $server.Username), (& $escape $server.Password) }
    }
    # Created empty with mode 600 first: libpq ignores a pgpass file others may read.
    New-Item -ItemType File -Path $path -Force | Out-Null
    if (-not $IsWindows) { [System.IO.File]::SetUnixFileMode($path, [System.IO.UnixFileMode]'UserRead, UserWrite') }
    [System.IO.File]::WriteAllLines($path, [string[]]@($lines))
    return $path
}

function Invoke-Psql {
    <# Runs SQL (sent on stdin, so never on a command line) and returns the rows as tab-separated lines. #>
    param([Parameter(Mandatory)] $Server, [Parameter(Mandatory)][string] $Sql, [string] $Database = $Server.Database, [switch] $Secret)
    $arguments = @('-X', '-q', '-A', '-t', '-F', "`t", '-v', 'ON_ERROR_STOP=1', '-d', (Get-LibpqDsn $Server $Database), '-f', '-')
    $output = @($Sql | & psql @arguments 2>&1 | ForEach-Object { "$_" })
    if ($LASTEXITCODE -ne 0) {
        $detail = if ($Secret) { '(output hidden: the statement holds a password)' } else { $output -join [Environment]::NewLine }
        throw "psql failed on the $($Server.Side) server, database ${Database}:$([Environment]::NewLine)$detail"
    }
    $output | Where-Object { $_ -ne '' }
}

function Remove-BenchDatabase($Server) {
    # WITH (FORCE) (PostgreSQL 13+) ends the sessions a killed run may have left behind.
    $version = [int](Invoke-Psql $Server 'SHOW server_version_num' -Database postgres)
    $force = if ($version -ge 130000) { ' WITH (FORCE)' } else { '' }
    Invoke-Psql $Server "DROP DATABASE IF EXISTS $($Server.Database)$force" -Database postgres | Out-Null
}

function Install-PgcopydbIfMissing {
    if (Get-Command pgcopydb -ErrorAction SilentlyContinue) { return }
    $isRoot = $IsLinux -and ((& id -u) -eq '0')
    if (-not ($isRoot -and (Get-Command apt-get -ErrorAction SilentlyContinue))) {
        throw 'pgcopydb is not on PATH; install it (Debian/Ubuntu: apt-get install pgcopydb).'
    }
    Write-BenchLog 'pgcopydb not found: installing it with apt-get'
    $env:DEBIAN_FRONTEND = 'noninteractive'
    # The package lists may be missing or stale on a fresh machine: update them once.
    Invoke-Checked apt-get @('update', '-qq') | Out-Null
    Invoke-Checked apt-get @('install', '-y', '-qq', 'pgcopydb') | Out-Null
}

function Get-PwshCommand {
    <# The PowerShell this script runs in, as a command and leading arguments (`dotnet pwsh.dll` for the pinned tool). #>
    $process = [Environment]::ProcessPath
    if ([System.IO.Path]::GetFileNameWithoutExtension($process) -eq 'dotnet') {
        return @($process, [System.Reflection.Assembly]::GetEntryAssembly().Location)
    }
    return @($process)
}

function Get-MachineDescription($Source, $Target) {
    $cpu = (Get-Content /proc/cpuinfo | Where-Object { $_ -like 'model name*' } | Select-Object -First 1) -replace '^model name\s*:\s*', ''
    $memKb = [double]((Get-Content /proc/meminfo | Where-Object { $_ -like 'MemTotal:*' }) -split '\s+')[1]
    $os = (Get-Content /etc/os-release -ErrorAction SilentlyContinue | Where-Object { $_ -like 'PRETTY_NAME=*' }) -replace '^PRETTY_NAME=|"', ''
    $pgcopydb = (& pgcopydb --version 2>$null | Select-Object -First 1) -replace '^pgcopydb version\s*', ''
    [ordered]@{
        'CPU'                      = "$cpu, nproc $(& nproc)"
        'memory'                   = '{0} GiB' -f (Format-Number ($memKb / 1048576) 1)
        'OS'                       = "$os, kernel $(& uname -r)"
        'PostgreSQL (source)'      = Invoke-Psql $Source 'SELECT version()'
        'PostgreSQL (target)'      = Invoke-Psql $Target 'SELECT version()'
        'server settings (target)' = (Invoke-Psql $Target "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ', ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers', 'max_wal_size', 'wal_level')")
        'psql'                     = (& psql --version) -replace '^psql \(PostgreSQL\)\s*', ''
        'pgcopydb'                 = $pgcopydb
        'PowerShell'               = $PSVersionTable.PSVersion.ToString()
        'load average at start'    = (Get-Content /proc/loadavg) -replace '^(\S+ \S+ \S+).*', '$1'
    }
}

function Get-CommandLine {
    <# This process's command line (build.ps1 Bench ... when run the usual way), with the tool's pwsh.dll shown as `pwsh`. #>
    $raw = [System.IO.File]::ReadAllText('/proc/self/cmdline').TrimEnd([char]0) -split [char]0
    $words = foreach ($word in $raw) {
        if ($word -like '*/pwsh.dll') { 'pwsh' }
        elseif ($word -like '*/dotnet') { 'dotnet' }
        elseif ($word -match '[\s"''$]') { "'" + ($word -replace "'", "''") + "'" }
        else { $word }
    }
    $words -join ' '
}

function Wait-DiskQuiet {
    <#
        Writes the operating system's dirty pages out (sync) before a timed step: a CHECKPOINT only
        hands the servers' pages to the page cache, and the kernel writing a gigabyte of them back
        during the next measurement slowed it by half on this machine.
    #>
    if ($IsLinux) { & sync }
}

function Get-Ratio([double] $Other, [double] $Mine) { if ($Mine -gt 0) { $Other / $Mine } else { [double]::NaN } }


function Set-ResultsSection {
    <#
    .SYNOPSIS
        Puts lines into RESULTS.md between the markers of one named section, replacing what the
        section held, or appending it: each benchmark rewrites only what it measured.
    #>
    param([Parameter(Mandatory)][string] $Path, [Parameter(Mandatory)][string] $Name, [Parameter(Mandatory)][AllowEmptyString()][string[]] $Lines)
    $begin, $end = "<!-- begin $Name -->", "<!-- end $Name -->"
    $existing = if (Test-Path -LiteralPath $Path) { @([System.IO.File]::ReadAllLines($Path)) } else { @() }
    $start = [array]::IndexOf($existing, $begin)
    $stop = [array]::IndexOf($existing, $end)
    $section = @($begin) + $Lines + @($end)
    $result = if ($start -ge 0 -and $stop -gt $start) {
        @($existing[0..($start - 1)]) + $section + @(if ($stop + 1 -lt $existing.Count) { $existing[($stop + 1)..($existing.Count - 1)] })
    }
    else { $existing + @('') + $section }
    [System.IO.File]::WriteAllLines($Path, [string[]]$result)
}

function Get-ResultsSection {
    <# The lines of one named section of RESULTS.md, markers included; nothing when it has none. #>
    param([Parameter(Mandatory)][string] $Path, [Parameter(Mandatory)][string] $Name)
    if (-not (Test-Path -LiteralPath $Path)) { return }
    $existing = @([System.IO.File]::ReadAllLines($Path))
    $start = [array]::IndexOf($existing, "<!-- begin $Name -->")
    $stop = [array]::IndexOf($existing, "<!-- end $Name -->")
    if ($start -ge 0 -and $stop -gt $start) { $existing[$start..$stop] }
}

function Invoke-TimedPgcopydb {
    <#
        Runs pgcopydb with its work folder and returns the seconds it took. pgcopydb copies as text
        in each server's own DateStyle: with the test servers' different styles it fails on dates, so
        both its sessions are given one style, as a DBA would. It logs a failed COPY (a duplicate
        key, say) as ERROR and still exits 0, so its log is read for errors too.
    #>
    param([Parameter(Mandatory)][string[]] $Arguments, [Parameter(Mandatory)][string] $Directory, [Parameter(Mandatory)][string] $Description)
    $saved = $env:PGDATESTYLE, $env:PGTZ
    $env:PGDATESTYLE, $env:PGTZ = 'ISO, YMD', 'UTC'
    try {
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        $output = Invoke-Checked pgcopydb ($Arguments + @('--dir', $Directory)) -Description $Description
        $seconds = $clock.Elapsed.TotalSeconds
    }
    finally {
        $env:PGDATESTYLE, $env:PGTZ = $saved
    }
    $errors = @($output | Where-Object { $_ -match '^\S+ \d+ (ERROR|FATAL) ' })
    if ($errors.Count) { throw "$Description reported errors (exit code 0):$([Environment]::NewLine)$($errors -join [Environment]::NewLine)" }
    Remove-Item -LiteralPath $Directory -Recurse -Force
    $seconds
}

Export-ModuleMember -Function Write-BenchLog, Wait-DiskQuiet, Set-EnvironmentVariable, Get-Median, Format-Number, Invoke-Checked, Get-BenchServer, Get-LibpqDsn, Get-PostgresUri, New-PgPassFile, Invoke-Psql, Remove-BenchDatabase, Install-PgcopydbIfMissing, Get-PwshCommand, Get-MachineDescription, Get-CommandLine, Get-Ratio, Set-ResultsSection, Get-ResultsSection, Invoke-TimedPgcopydb
