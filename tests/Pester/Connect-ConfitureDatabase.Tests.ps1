BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force
}

Describe 'Connect-ConfitureDatabase parameters' -Tag UnitTests {
    It 'has every parameter the design documents' {
        $documented = @('ConnectionString', 'Credential', 'Database', 'Host', 'Name', 'Port', 'SslMode')
        $documented | Where-Object { $_ -notin (Get-CommandParameterName Connect-ConfitureDatabase) } | Should -BeNullOrEmpty -Because 'these documented parameters are missing'
    }

    It 'takes either a connection string or -Host -Database -Credential' {
        $command = Get-Command Connect-ConfitureDatabase
        $command.ParameterSets.Name | Sort-Object | Should -Be @('ConnectionString', 'Parts')
        $command.Parameters['Credential'].ParameterType | Should -Be ([pscredential])
        $command.Parameters['SslMode'].Attributes.Where({ $_ -is [ValidateSet] }).ValidValues |
            Should -Be @('Disable', 'Allow', 'Prefer', 'Require', 'VerifyCA', 'VerifyFull')
    }
}

Describe 'Connect-ConfitureDatabase' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        $source = Get-TestServer Source
        $password = $pair.MigratorPassword
        $secureCredential = [pscredential]::new($pair.MigratorUser, (ConvertTo-SecureString $password -AsPlainText -Force))
    }

    AfterAll {
        Remove-TestDatabasePair $pair
    }

    Context 'a good login' {
        It 'connects with a keyword connection string and reports who and where it is' {
            $connection = Connect-ConfitureDatabase -ConnectionString $pair.SourceMigrator

            $connection | Should -BeOfType ([Confiture.PowerShell.Types.ConfitureConnection])
            $connection.Host | Should -Be $source.Host
            $connection.Port | Should -Be $source.Port
            $connection.Database | Should -Be $pair.Database
            $connection.User | Should -Be $pair.MigratorUser
            $connection.IsSuperuser | Should -BeFalse
            $connection.ServerVersion | Should -Match '^\d+\.\d+'
            $connection.ToString() | Should -Be "$($pair.MigratorUser)@$($source.Host):$($source.Port)/$($pair.Database)"
        }

        It 'connects with a postgresql:// URI whose percent-encoded password holds reserved characters' {
            $user = [Uri]::EscapeDataString($pair.MigratorUser)
            $secret = [Uri]::EscapeDataString($password)
            $uri = "postgresql://${user}:${secret}@$($source.Host):$($source.Port)/$($pair.Database)?sslmode=disable"

            $connection = Connect-ConfitureDatabase $uri

            $connection.User | Should -Be $pair.MigratorUser
            $connection.Database | Should -Be $pair.Database
            $connection.Port | Should -Be $source.Port
            $connection.SslMode | Should -Be 'disable'
        }

        It 'connects with -Host -Port -Database -Credential' {
            $connection = Connect-ConfitureDatabase -Host $source.Host -Port $source.Port -Database $pair.Database -Credential $secureCredential -SslMode Disable

            $connection.User | Should -Be $pair.MigratorUser
            $connection.Database | Should -Be $pair.Database
            $connection.SslMode | Should -Be 'disable'
        }

        It 'takes the connection string from the pipeline' {
            $connections = @($pair.SourceMigrator, $pair.TargetMigrator | Connect-ConfitureDatabase)

            $connections.Count | Should -Be 2
            $connections[1].Port | Should -Be (Get-TestServer Target).Port
        }

        It 'labels the connection with -Name' {
            (Connect-ConfitureDatabase $pair.SourceMigrator -Name 'legacy-crm').Name | Should -Be 'legacy-crm'
        }

        It 'tells a superuser login from a plain one' {
            (Connect-ConfitureDatabase $pair.SourceAdmin).IsSuperuser | Should -BeTrue
        }

        It 'shows the password in no property, no ToString() and no JSON of the connection' {
            $connection = Connect-ConfitureDatabase -ConnectionString $pair.SourceMigrator
            $texts = @(
                $connection.ToString()
                $connection | Format-List * -Force | Out-String
                $connection | ConvertTo-Json -Depth 4 -WarningAction SilentlyContinue
                $connection.PSObject.Properties | ForEach-Object { "$($_.Name)=$($_.Value)" }
            ) -join "`n"

            foreach ($form in Get-SecretForm $password) {
                $texts.Contains($form) | Should -BeFalse -Because "the password (as '$form') must not show"
            }
            $connection.PSObject.Properties.Name | Should -Not -Contain 'Password'
            $connection.PSObject.Properties.Name | Should -Not -Contain 'ConnectionString'
        }
    }

    Context 'a wrong password' {
        BeforeAll {
            $wrongPassword = "Wr0ng'Secret;`"$([Guid]::NewGuid().ToString('N').Substring(0, 10))\é"
            $wrong = New-ConnectionString -Server $source -Database $pair.Database -Username $pair.MigratorUser -Password $wrongPassword
        }

        It 'fails with Confiture.AuthenticationFailed' {
            { Connect-ConfitureDatabase -ConnectionString $wrong } | Should -Throw -ErrorId 'Confiture.AuthenticationFailed,*'
        }

        It 'fails with Confiture.AuthenticationFailed through -Credential too' {
            $credential = [pscredential]::new($pair.MigratorUser, (ConvertTo-SecureString $wrongPassword -AsPlainText -Force))
            { Connect-ConfitureDatabase -Host $source.Host -Port $source.Port -Database $pair.Database -Credential $credential } |
                Should -Throw -ErrorId 'Confiture.AuthenticationFailed,*'
        }

        It 'shows the password nowhere in the error: message, details, exception or target' {
            $failure = $null
            try { Connect-ConfitureDatabase -ConnectionString $wrong } catch { $failure = $_ }

            $failure | Should -Not -BeNullOrEmpty
            $failure.CategoryInfo.Category | Should -Be 'AuthenticationError'
            $texts = @(
                $failure.ToString()
                $failure.Exception.Message
                "$($failure.ErrorDetails.Message) $($failure.ErrorDetails.RecommendedAction)"
                $failure.Exception.ToString()
                "$($failure.TargetObject)"
                $failure | Format-List * -Force | Out-String
            ) -join "`n"

            $texts | Should -Match ([regex]::Escape($pair.MigratorUser)) -Because 'the message names the user that was refused'
            foreach ($form in Get-SecretForm $wrongPassword) {
                $texts.Contains($form) | Should -BeFalse -Because "the password (as '$form') must not show"
            }
        }

        It 'serializes the error record to JSON (as runbooks log it) without the password' {
            $failure = $null
            try { Connect-ConfitureDatabase -ConnectionString $wrong } catch { $failure = $_ }

            $json = $failure | ConvertTo-Json -Depth 4 -WarningAction SilentlyContinue

            $json | Should -Match 'Confiture\.AuthenticationFailed'
            foreach ($form in Get-SecretForm $wrongPassword) {
                $json.Contains($form) | Should -BeFalse -Because "the password (as '$form') must not show"
            }
        }
    }

    Context 'a connection string that cannot be read' {
        It 'echoes no part of a URI password whose <Separator> was not percent-encoded' -ForEach @(
            @{ Separator = '?' }
            @{ Separator = '/' }
            @{ Separator = '#' }
        ) {
            $uri = "postgresql://$($pair.MigratorUser):Hunter2${Separator}Tail99@$($source.Host):$($source.Port)/$($pair.Database)"
            $failure = $null
            try { Connect-ConfitureDatabase -ConnectionString $uri } catch { $failure = $_ }

            $failure | Should -Not -BeNullOrEmpty -Because 'the URI does not name a reachable server'
            $text = @($failure.ToString(), $failure.Exception.ToString(), "$($failure.ErrorDetails.Message)", "$($failure.TargetObject)") -join "`n"
            $text | Should -Not -Match 'Hunter2' -Because 'the start of the password must not show'
            $text | Should -Not -Match 'Tail99' -Because 'the end of the password must not show'
        }

        It 'echoes no password from a keyword string with a misspelt keyword' {
            $failure = $null
            try { Connect-ConfitureDatabase -ConnectionString "Host=$($source.Host);Pasword=Hunter2Tail99" } catch { $failure = $_ }

            $failure.FullyQualifiedErrorId | Should -BeLike 'Confiture.InvalidConnectionString,*'
            @($failure.ToString(), $failure.Exception.ToString()) -join "`n" | Should -Not -Match 'Hunter2Tail99'
        }
    }

    Context 'the verbose stream' {
        It 'names the server it connects to, and never the password' {
            $user = [Uri]::EscapeDataString($pair.MigratorUser)
            $uri = "postgresql://${user}:$([Uri]::EscapeDataString($password))@$($source.Host):$($source.Port)/$($pair.Database)"

            $verbose = (Connect-ConfitureDatabase $uri -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message) -join "`n"

            $verbose | Should -Match ([regex]::Escape("$($source.Host):$($source.Port)"))
            foreach ($form in Get-SecretForm $password) {
                $verbose.Contains($form) | Should -BeFalse -Because "the password (as '$form') must not show"
            }
        }
    }

    Context 'a server or database that is not there' {
        It 'fails with Confiture.ConnectionFailed when nothing listens on the port' {
            $closed = New-ConnectionString -Server ([pscustomobject]@{ Host = '127.0.0.1'; Port = (Get-FreeTcpPort); Database = 'postgres'; Username = 'nobody'; Password = 'x' })

            { Connect-ConfitureDatabase -ConnectionString $closed } | Should -Throw -ErrorId 'Confiture.ConnectionFailed,*'
        }

        It 'fails with Confiture.DatabaseNotFound for a database that does not exist' {
            $missing = New-ConnectionString -Server $source -Database "$($pair.Database)_missing" -Username $pair.MigratorUser -Password $password

            { Connect-ConfitureDatabase -ConnectionString $missing } | Should -Throw -ErrorId 'Confiture.DatabaseNotFound,*'
        }

        It 'fails with Confiture.InvalidConnectionString for a URI with a bad port' {
            { Connect-ConfitureDatabase -ConnectionString "postgresql://someone@$($source.Host):notaport/postgres" } |
                Should -Throw -ErrorId 'Confiture.InvalidConnectionString,*'
        }

        It 'fails with Confiture.InvalidConnectionString for an unknown keyword' {
            { Connect-ConfitureDatabase -ConnectionString 'Hots=localhost;Database=postgres' } |
                Should -Throw -ErrorId 'Confiture.InvalidConnectionString,*'
        }
    }
}
